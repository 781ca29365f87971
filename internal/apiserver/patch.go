package apiserver

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// maxJSONPatchOperations bounds the work one JSON patch can ask for.
const maxJSONPatchOperations = 10000

// maxJSONPatchCopyBytes bounds how much the "copy" operations of one JSON
// patch may grow a document, as upstream's JSONPatchMaxCopyBytes: without
// it a few hundred bytes of doubling copies exhaust the server's memory.
const maxJSONPatchCopyBytes = 3 << 20

func init() {
	// The limit is a package variable of json-patch; upstream sets it the
	// same way when it builds its server.
	jsonpatch.AccumulatedCopySizeLimit = maxJSONPatchCopyBytes
}

func (s *Server) servePatch(q *request) {
	if err := validateDryRun(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	ct := q.r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	pt := types.PatchType(mt)
	if pt == types.StrategicMergePatchType && q.res.IsCustom() {
		// Custom resources have no patch strategies: upstream refuses.
		s.writeError(q.w, q.r, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
			Message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"}})
		return
	}
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType:
		s.serveApply(q)
		return
	default:
		s.writeError(q.w, q.r, unsupportedMediaType(ct))
		return
	}
	if err := validatePatchOptions(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	patch, err := readBody(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	jp, err := decodePatch(pt, patch)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	out, code, err := s.update(q.r.Context(), q, func(current runtime.Object) (runtime.Object, error) {
		return s.patchObject(q, pt, patch, jp, current)
	})
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, code, out)
}

// decodePatch checks a patch body before it is applied: a JSON patch is
// parsed into its operations, the other types must be JSON documents.
func decodePatch(pt types.PatchType, patch []byte) (jsonpatch.Patch, error) {
	if pt != types.JSONPatchType {
		if !json.Valid(patch) {
			return nil, badRequest("error decoding patch: invalid JSON document")
		}
		return nil, nil
	}
	jp, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if len(jp) > maxJSONPatchOperations {
		return nil, apierrors.NewRequestEntityTooLargeError("The allowed maximum operations in a JSON patch is 10000")
	}
	return jp, nil
}

// patchObject applies a decoded patch to the current object (in the served
// version) and decodes the result as the request's kind.
func (s *Server) patchObject(q *request, pt types.PatchType, patch []byte, jp jsonpatch.Patch, current runtime.Object) (runtime.Object, error) {
	original, err := json.Marshal(current)
	if err != nil {
		return nil, err
	}
	patched, err := applyPatch(pt, original, patch, jp, current)
	if err != nil {
		return nil, err
	}
	jsonInfo, _ := serializerFor(mediaJSON)
	return s.decodeObject(q, patched, jsonInfo)
}

// applyPatch applies one patch document to original (JSON).
func applyPatch(pt types.PatchType, original, patch []byte, jp jsonpatch.Patch, schema runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		out, err := jp.Apply(original)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", registryGR, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		return out, nil
	default:
		out, err := strategicpatch.StrategicMergePatch(original, patch, schema)
		if err != nil {
			if badPatchFormat(err) {
				return nil, badRequest("%v", err)
			}
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", registryGR, "", err.Error(), 0, false)
		}
		return out, nil
	}
}

// badPatchFormat reports malformed strategic merge patches (400); other
// failures mean the patch does not fit the object (422).
func badPatchFormat(err error) bool {
	for _, e := range []error{mergepatch.ErrBadJSONDoc, mergepatch.ErrNoListOfLists, mergepatch.ErrBadPatchFormatForPrimitiveList,
		mergepatch.ErrBadPatchFormatForRetainKeys, mergepatch.ErrBadPatchFormatForSetElementOrderList, mergepatch.ErrUnsupportedStrategicMergePatchFormat} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

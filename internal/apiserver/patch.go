package apiserver

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// maxJSONPatchOperations bounds the work one JSON patch can ask for.
const maxJSONPatchOperations = 10000

func (s *Server) servePatch(q *request) {
	if err := validateDryRun(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	ct := q.r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	pt := types.PatchType(mt)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		s.writeError(q.w, q.r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", q.gr(), q.name, "server-side apply is not supported by this server yet", 0, false))
		return
	default:
		s.writeError(q.w, q.r, unsupportedMediaType(ct))
		return
	}
	patch, err := readBody(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	var jp jsonpatch.Patch
	if pt == types.JSONPatchType {
		jp, err = jsonpatch.DecodePatch(patch)
		if err != nil {
			s.writeError(q.w, q.r, badRequest("%v", err))
			return
		}
		if len(jp) > maxJSONPatchOperations {
			s.writeError(q.w, q.r, apierrors.NewRequestEntityTooLargeError("The allowed maximum operations in a JSON patch is 10000"))
			return
		}
	} else if !json.Valid(patch) {
		s.writeError(q.w, q.r, badRequest("error decoding patch: invalid JSON document"))
		return
	}
	jsonInfo, _ := serializerFor(mediaJSON)
	out, code, err := s.update(q.r.Context(), q, func(current runtime.Object) (runtime.Object, error) {
		original, err := json.Marshal(current)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(pt, original, patch, jp, current)
		if err != nil {
			return nil, err
		}
		return s.decodeObject(q, patched, jsonInfo)
	})
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, code, out)
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

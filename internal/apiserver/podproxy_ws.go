package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

// The channels of the v4 and v5 remotecommand WebSocket protocols.
const (
	wsStdin = iota
	wsStdout
	wsStderr
	wsError
	wsResize
)

// wsProtocols are the WebSocket subprotocols of exec and attach served by
// translation, newest first.
var wsProtocols = []string{"v5.channel.k8s.io", "v4.channel.k8s.io"}

// serveStreamTranslated serves a WebSocket exec or attach (what kubectl
// tries first): the client's WebSocket channels are bridged to an SPDY
// stream to the kubelet at u, which speaks SPDY only, as upstream's API
// server does with its stream translator. It reports false (the caller
// then refuses the upgrade) when the client offers no protocol served here.
func (s *Server) serveStreamTranslated(q *request, u *url.URL) bool {
	if !offersProtocol(q.r) {
		return false
	}
	query := q.r.URL.Query()
	flag := func(name string) bool { b, _ := strconv.ParseBool(query.Get(name)); return b }
	stdin, stdout, stderr, tty := flag("stdin"), flag("stdout"), flag("stderr"), flag("tty")
	if tty {
		stderr = false
	}
	channel := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		channel(stdin, wsstream.ReadChannel),
		channel(stdout, wsstream.WriteChannel),
		channel(stderr, wsstream.WriteChannel),
		wsstream.WriteChannel,
		channel(tty, wsstream.ReadChannel),
	}
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for _, p := range wsProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	}
	// The kubelet connection first, so that its failure is still an
	// ordinary error response (and an upgrade failure for the client).
	rt, err := streamspdy.NewRoundTripperWithConfig(streamspdy.RoundTripperConfig{
		TLS:     s.kubeletTransport().TLSClientConfig.Clone(),
		Proxier: func(*http.Request) (*url.URL, error) { return nil, nil },
	})
	if err != nil {
		s.writeError(q.w, q.r, err)
		return true
	}
	executor, err := remotecommand.NewSPDYExecutorForTransports(rt, spdy.NewUpgraderForStreaming(rt), http.MethodPost, u)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return true
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(4 * time.Hour)
	_, streams, err := conn.Open(q.w, q.r)
	if err != nil {
		s.log.Warn("opening a WebSocket stream", "path", q.r.URL.Path, "err", err)
		return true
	}
	defer func() { _ = conn.Close() }()
	opts := remotecommand.StreamOptions{Tty: tty}
	if stdin {
		opts.Stdin = streams[wsStdin]
	}
	if stdout {
		opts.Stdout = streams[wsStdout]
	}
	if stderr {
		opts.Stderr = streams[wsStderr]
	}
	if tty {
		opts.TerminalSizeQueue = &resizeQueue{dec: json.NewDecoder(streams[wsResize])}
	}
	err = executor.StreamWithContext(q.r.Context(), opts)
	status := streamStatus(err)
	data, _ := json.Marshal(status)
	_, _ = streams[wsError].Write(data)
	return true
}

// offersProtocol reports whether the client asks for a subprotocol in
// wsProtocols.
func offersProtocol(r *http.Request) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range splitComma(h) {
			for _, want := range wsProtocols {
				if p == want {
					return true
				}
			}
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			f := s[start:i]
			for len(f) > 0 && f[0] == ' ' {
				f = f[1:]
			}
			for len(f) > 0 && f[len(f)-1] == ' ' {
				f = f[:len(f)-1]
			}
			if f != "" {
				out = append(out, f)
			}
			start = i + 1
		}
	}
	return out
}

// streamStatus is the Status written on the error channel: success, the
// command's exit code, or the failure.
func streamStatus(err error) *metav1.Status {
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}}
	if err == nil {
		st.Status = metav1.StatusSuccess
		return st
	}
	st.Status = metav1.StatusFailure
	var exitErr exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		st.Reason = "NonZeroExitCode"
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: %v", err)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(exitErr.ExitStatus())}}}
		return st
	}
	st.Reason = metav1.StatusReasonInternalError
	st.Code = http.StatusInternalServerError
	st.Message = err.Error()
	return st
}

// resizeQueue reads the terminal sizes the client sends on the resize
// channel.
type resizeQueue struct{ dec *json.Decoder }

// Next returns the next size, or nil once the channel ends.
func (q *resizeQueue) Next() *remotecommand.TerminalSize {
	var size remotecommand.TerminalSize
	if err := q.dec.Decode(&size); err != nil {
		return nil
	}
	return &size
}

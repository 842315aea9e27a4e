package lambdaapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/errdefs"
	"github.com/hearthfn/hearth/internal/logs"
)

// Function logs are not part of the Lambda API (on AWS they live in CloudWatch
// Logs), so Hearth serves them on a path of its own, SigV4-signed like the rest:
//
//	GET /_hearth/logs/FUNCTION[?since=RFC3339][&follow=true]
//
// The answer is text: each record's log stream name on a line of its own, prefixed
// "== ", then the record's lines. With follow, the response stays open.
const logsPathPrefix = "/_hearth/logs/"

func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	if s.logs == nil {
		s.writeError(w, r, errdefs.New(errdefs.ErrNotImplemented, "This Hearth node keeps no function logs (it runs no worker)."))
		return
	}
	if _, err := s.verifier.Verify(r, nil); err != nil {
		s.writeError(w, r, authError(err))
		return
	}
	if r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Get("X-Amz-Security-Token") != "" {
		// Logs are the operator's (CloudWatch Logs on AWS), not a function's to read.
		s.writeError(w, r, errdefs.New(errdefs.ErrAccessDenied, "An execution role's temporary credentials cannot read function logs."))
		return
	}
	ref, err := s.ctl.ParseFunctionRef("functionName", strings.TrimPrefix(r.URL.Path, logsPathPrefix))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.ctl.GetFunctionConfiguration(r.Context(), ref.Name, ""); err != nil {
		s.writeError(w, r, err)
		return
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			s.writeError(w, r, errdefs.New(errdefs.ErrInvalidParameter, "since must be an RFC 3339 time, e.g. 2024-01-02T15:04:05Z"))
			return
		}
	}
	follow := r.URL.Query().Get("follow") == "true"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	last := ""
	_ = s.logs.Read(r.Context(), ref.Name, since, follow, func(rec logs.Record) error {
		if rec.LogStream != last {
			if _, err := fmt.Fprintf(w, "== %s\n", rec.LogStream); err != nil {
				return err
			}
			last = rec.LogStream
		}
		if _, err := w.Write(rec.Text); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return r.Context().Err()
	})
}

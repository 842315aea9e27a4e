package lambdaapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearthfn/hearth/internal/control"
	"github.com/hearthfn/hearth/internal/errdefs"
)

func (s *Server) registerFunctions() {
	s.handle("CreateFunction", func(ctx context.Context, rq *request) (any, error) {
		var in control.CreateFunctionInput
		zip, err := decodeWithBlob(rq.body, &in)
		if err != nil {
			return nil, err
		}
		if zip != nil {
			if in.Code == nil {
				in.Code = &control.FunctionCode{}
			}
			in.Code.ZipFile = zip
		}
		return s.ctl.CreateFunction(ctx, &in)
	})
	s.handle("GetFunction", func(ctx context.Context, rq *request) (any, error) {
		out, codeKey, err := s.ctl.GetFunction(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
		if err != nil {
			return nil, err
		}
		out.Code.Location = s.codeURL(rq.host, codeKey)
		return out, nil
	})
	s.handle("GetFunctionConfiguration", func(ctx context.Context, rq *request) (any, error) {
		return s.ctl.GetFunctionConfiguration(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
	s.handle("ListFunctions", func(ctx context.Context, rq *request) (any, error) {
		n, err := maxItemsOf(rq.query, control.MaxListItems)
		if err != nil {
			return nil, err
		}
		return s.ctl.ListFunctions(ctx, rq.query.Get("FunctionVersion"), rq.query.Get("Marker"), n)
	})
	s.handle("UpdateFunctionCode", func(ctx context.Context, rq *request) (any, error) {
		var in control.UpdateFunctionCodeInput
		zip, err := decodeWithBlob(rq.body, &in)
		if err != nil {
			return nil, err
		}
		if zip != nil {
			in.ZipFile = zip
		}
		in.FunctionName = rq.param("FunctionName")
		return s.ctl.UpdateFunctionCode(ctx, &in)
	})
	s.handle("UpdateFunctionConfiguration", func(ctx context.Context, rq *request) (any, error) {
		var in control.UpdateFunctionConfigurationInput
		if err := decode(rq.body, &in); err != nil {
			return nil, err
		}
		in.FunctionName = rq.param("FunctionName")
		return s.ctl.UpdateFunctionConfiguration(ctx, &in)
	})
	s.handle("DeleteFunction", func(ctx context.Context, rq *request) (any, error) {
		return nil, s.ctl.DeleteFunction(ctx, rq.param("FunctionName"), rq.query.Get("Qualifier"))
	})
}

// decodeWithBlob decodes a request that carries a ZipFile, taking the zip out of the
// JSON first (see cutBlob). It returns nil when the fast path declined, in which case
// encoding/json has filled in the zip itself.
func decodeWithBlob(body []byte, v any) ([]byte, error) {
	rest, zip, ok, err := cutBlob(body, "ZipFile")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, decode(body, v)
	}
	return zip, decode(rest, v)
}

// Code downloads. GetFunction's Code.Location must be fetchable without AWS
// credentials (the CLI and Terraform fetch it with plain HTTP, as an S3 presigned URL),
// so the URL carries its own expiry and an HMAC over digest and expiry.
const (
	codePathPrefix  = "/_hearth/code/"
	codeURLValidity = 10 * time.Minute
	sha256HexLength = 64
)

func (s *Server) codeURL(host, sha256Hex string) string {
	exp := strconv.FormatInt(s.now().Add(codeURLValidity).Unix(), 10)
	return "http://" + host + codePathPrefix + sha256Hex + "?Expires=" + exp + "&Signature=" + s.codeSignature(sha256Hex, exp)
}

func (s *Server) codeSignature(sha256Hex, exp string) string {
	mac := hmac.New(sha256.New, s.codeKey)
	mac.Write([]byte(sha256Hex + "\n" + exp))
	return hex.EncodeToString(mac.Sum(nil))
}

func (s *Server) serveCode(w http.ResponseWriter, r *http.Request) {
	digest := strings.TrimPrefix(r.URL.Path, codePathPrefix)
	exp := r.URL.Query().Get("Expires")
	sig := r.URL.Query().Get("Signature")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, errdefs.New(errdefs.ErrUnknownOperation, "Code locations answer GET only."))
		return
	}
	if _, err := hex.DecodeString(digest); err != nil || len(digest) != sha256HexLength {
		s.writeError(w, r, errdefs.New(errdefs.ErrNotFound, "No code at %s.", r.URL.Path))
		return
	}
	expAt, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.codeSignature(digest, exp))) {
		s.writeError(w, r, errdefs.New(errdefs.ErrInvalidSignature, "The code location's signature is not valid; call GetFunction for a fresh Code.Location."))
		return
	}
	if s.now().Unix() > expAt {
		s.writeError(w, r, errdefs.New(errdefs.ErrInvalidSignature, "The code location expired; call GetFunction for a fresh Code.Location."))
		return
	}
	b, err := s.ctl.Code(r.Context(), digest)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

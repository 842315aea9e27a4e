package esm

import (
	"bytes"
	"encoding/json"
	"errors"
)

// errBadBatchResponse is a ReportBatchItemFailures answer Lambda cannot act on;
// the whole batch counts as failed.
var errBadBatchResponse = errors.New("the function's batchItemFailures response is not valid")

// failedItems reads a ReportBatchItemFailures answer: the message ids to keep.
// Lambda treats as complete success an empty or null answer, an empty object, and a
// null or empty batchItemFailures; as complete failure anything that is not JSON,
// an itemIdentifier that is missing, empty, not a string or not in the batch.
func failedItems(resp []byte, batch map[string]bool) (map[string]bool, error) {
	resp = bytes.TrimSpace(resp)
	if len(resp) == 0 || bytes.Equal(resp, []byte("null")) {
		return nil, nil
	}
	var doc any
	if err := json.Unmarshal(resp, &doc); err != nil {
		return nil, errBadBatchResponse
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		// A JSON value that is not an object (a string, a number, a list) carries no
		// failures: Lambda counts it as success.
		return nil, nil
	}
	raw, present := obj["batchItemFailures"]
	if !present || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, errBadBatchResponse
	}
	failed := map[string]bool{}
	for _, item := range list {
		o, ok := item.(map[string]any)
		if !ok {
			return nil, errBadBatchResponse
		}
		id, ok := o["itemIdentifier"].(string)
		if !ok || id == "" || !batch[id] {
			return nil, errBadBatchResponse
		}
		failed[id] = true
	}
	return failed, nil
}

package sqs

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Queue attribute names, SQS's spelling.
const (
	AttrDelaySeconds                  = "DelaySeconds"
	AttrMaximumMessageSize            = "MaximumMessageSize"
	AttrMessageRetentionPeriod        = "MessageRetentionPeriod"
	AttrReceiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
	AttrVisibilityTimeout             = "VisibilityTimeout"
	AttrRedrivePolicy                 = "RedrivePolicy"
	AttrRedriveAllowPolicy            = "RedriveAllowPolicy"
	AttrPolicy                        = "Policy"
	AttrFifoQueue                     = "FifoQueue"
	AttrContentBasedDeduplication     = "ContentBasedDeduplication"
	AttrDeduplicationScope            = "DeduplicationScope"
	AttrFifoThroughputLimit           = "FifoThroughputLimit"
	AttrKmsMasterKeyID                = "KmsMasterKeyId"
	AttrKmsDataKeyReusePeriodSeconds  = "KmsDataKeyReusePeriodSeconds"
	AttrSqsManagedSseEnabled          = "SqsManagedSseEnabled"

	AttrQueueArn                              = "QueueArn"
	AttrApproximateNumberOfMessages           = "ApproximateNumberOfMessages"
	AttrApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	AttrApproximateNumberOfMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	AttrCreatedTimestamp                      = "CreatedTimestamp"
	AttrLastModifiedTimestamp                 = "LastModifiedTimestamp"
)

// Limits SQS documents.
const (
	DefaultVisibilityTimeout      = 30
	MaxVisibilityTimeout          = 43200
	MaxDelaySeconds               = 900
	DefaultRetentionPeriod        = 345600
	MinRetentionPeriod            = 60
	MaxRetentionPeriod            = 1209600
	DefaultMaximumMessageSize     = 1048576 // SQS's default since August 2025 (was 262144)
	MinMaximumMessageSize         = 1024
	MaxMaximumMessageSize         = 1048576
	MaxReceiveWaitTimeSeconds     = 20
	MaxMessagesPerReceive         = 10
	MaxBatchEntries               = 10
	MaxMessageAttributes          = 10
	maxRedriveMaxReceiveCount     = 1000
	defaultKmsDataKeyReusePeriod  = 300
	fifoDeduplicationWindow       = 300 // seconds, SQS's 5-minute window
	maxQueueNameLength            = 80
	maxMessageAttributeNameLength = 256
)

// readOnlyAttributes are answered by GetQueueAttributes but refused by Create and Set.
var readOnlyAttributes = map[string]bool{
	AttrQueueArn: true, AttrApproximateNumberOfMessages: true, AttrApproximateNumberOfMessagesNotVisible: true,
	AttrApproximateNumberOfMessagesDelayed: true, AttrCreatedTimestamp: true, AttrLastModifiedTimestamp: true,
}

// fifoOnlyAttributes exist on FIFO queues only.
var fifoOnlyAttributes = map[string]bool{
	AttrFifoQueue: true, AttrContentBasedDeduplication: true, AttrDeduplicationScope: true, AttrFifoThroughputLimit: true,
}

// settableAttributes are what CreateQueue and SetQueueAttributes accept.
var settableAttributes = map[string]bool{
	AttrDelaySeconds: true, AttrMaximumMessageSize: true, AttrMessageRetentionPeriod: true,
	AttrReceiveMessageWaitTimeSeconds: true, AttrVisibilityTimeout: true, AttrRedrivePolicy: true,
	AttrRedriveAllowPolicy: true, AttrPolicy: true, AttrFifoQueue: true, AttrContentBasedDeduplication: true,
	AttrDeduplicationScope: true, AttrFifoThroughputLimit: true, AttrKmsMasterKeyID: true,
	AttrKmsDataKeyReusePeriodSeconds: true, AttrSqsManagedSseEnabled: true,
}

// IsQueueAttributeName says whether name is one GetQueueAttributes knows ("All" too).
func IsQueueAttributeName(name string) bool {
	return name == "All" || readOnlyAttributes[name] || settableAttributes[name]
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// ValidQueueName reports whether name is a queue name SQS accepts: 1–80 of
// [A-Za-z0-9_-], the 80 including a FIFO queue's ".fifo".
func ValidQueueName(name string) bool {
	base := strings.TrimSuffix(name, ".fifo")
	if len(name) > maxQueueNameLength {
		return false
	}
	return queueNameRE.MatchString(base)
}

// IsFIFOName says whether name is a FIFO queue's.
func IsFIFOName(name string) bool { return strings.HasSuffix(name, ".fifo") }

func errAttrValue(name string) *Error {
	return NewError("InvalidAttributeValue", "Invalid value for the parameter %s.", name)
}

func errAttrName(name string) *Error {
	return NewError("InvalidAttributeName", "Unknown Attribute %s.", name)
}

// intAttr parses an integer attribute within [lo, hi].
func intAttr(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, errAttrValue(name)
	}
	return n, nil
}

func boolAttr(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errAttrValue(name)
}

// RedrivePolicy is a queue's dead-letter rule.
type RedrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// parseRedrivePolicy accepts maxReceiveCount as a number or a string, as SQS does.
func parseRedrivePolicy(v string) (RedrivePolicy, error) {
	var raw struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	bad := errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map.", v)
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return RedrivePolicy{}, bad
	}
	if raw.DeadLetterTargetArn == "" || len(raw.MaxReceiveCount) == 0 {
		return RedrivePolicy{}, errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: %s.", v,
			map[bool]string{true: "deadLetterTargetArn", false: "maxReceiveCount"}[raw.DeadLetterTargetArn == ""])
	}
	s := strings.Trim(string(raw.MaxReceiveCount), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxRedriveMaxReceiveCount {
		return RedrivePolicy{}, errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", v, s)
	}
	return RedrivePolicy{DeadLetterTargetArn: raw.DeadLetterTargetArn, MaxReceiveCount: n}, nil
}

// queueSettings are a queue's attributes parsed once, for the message paths.
type queueSettings struct {
	fifo             bool
	contentDedup     bool
	delay            int
	maxSize          int
	retention        int
	waitTime         int
	visibility       int
	redrive          *RedrivePolicy
	dedupScopeGroup  bool
	throughputPerGrp bool
}

// defaultAttributes are what a new queue has unless told otherwise.
func defaultAttributes(fifo bool) map[string]string {
	a := map[string]string{
		AttrDelaySeconds:                  "0",
		AttrMaximumMessageSize:            strconv.Itoa(DefaultMaximumMessageSize),
		AttrMessageRetentionPeriod:        strconv.Itoa(DefaultRetentionPeriod),
		AttrReceiveMessageWaitTimeSeconds: "0",
		AttrVisibilityTimeout:             strconv.Itoa(DefaultVisibilityTimeout),
		AttrSqsManagedSseEnabled:          "true",
	}
	if fifo {
		a[AttrFifoQueue] = "true"
		a[AttrContentBasedDeduplication] = "false"
		a[AttrDeduplicationScope] = "queue"
		a[AttrFifoThroughputLimit] = "perQueue"
	}
	return a
}

// checkAttributes validates attributes given to CreateQueue (create) or
// SetQueueAttributes and returns them normalised (booleans lower-case, numbers
// without spaces). dlqExists answers whether a redrive target names a queue of this
// service and whether it is FIFO.
func checkAttributes(attrs map[string]string, fifo, create bool, dlqExists func(arn string) (exists, isFIFO bool)) (map[string]string, error) {
	out := make(map[string]string, len(attrs))
	// In name order, so a request with several bad attributes always gets the
	// same error.
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := attrs[name]
		if readOnlyAttributes[name] || !settableAttributes[name] {
			return nil, errAttrName(name)
		}
		if fifoOnlyAttributes[name] && !fifo {
			// AWS's recorded answers: a standard queue knows no FifoQueue, not
			// even "false", nor ContentBasedDeduplication; the two throughput
			// settings say why they are refused.
			switch {
			case name == AttrFifoQueue && create && strings.EqualFold(v, "true"):
				return nil, errInvalidParam("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix. The queue name has 80 characters or less.")
			case name == AttrDeduplicationScope || name == AttrFifoThroughputLimit:
				return nil, NewError("InvalidAttributeName", "You can specify the %s only when FifoQueue is set to true.", name)
			}
			return nil, errAttrName(name)
		}
		switch name {
		case AttrDelaySeconds:
			n, err := intAttr(name, v, 0, MaxDelaySeconds)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(n)
		case AttrMaximumMessageSize:
			n, err := intAttr(name, v, MinMaximumMessageSize, MaxMaximumMessageSize)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(n)
		case AttrMessageRetentionPeriod:
			n, err := intAttr(name, v, MinRetentionPeriod, MaxRetentionPeriod)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(n)
		case AttrReceiveMessageWaitTimeSeconds:
			n, err := intAttr(name, v, 0, MaxReceiveWaitTimeSeconds)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(n)
		case AttrVisibilityTimeout:
			n, err := intAttr(name, v, 0, MaxVisibilityTimeout)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(n)
		case AttrKmsDataKeyReusePeriodSeconds:
			n, err := intAttr(name, v, 60, 86400)
			if err != nil {
				return nil, err
			}
			v = strconv.Itoa(n)
		case AttrFifoQueue:
			b, err := boolAttr(name, v)
			if err != nil {
				return nil, err
			}
			if !b {
				if !create {
					// A FIFO queue stays one; setting FifoQueue=true again is
					// accepted (AWS's recorded answers).
					return nil, NewError("InvalidAttributeValue", "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
				}
				return nil, errInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
			}
			v = "true"
		case AttrContentBasedDeduplication, AttrSqsManagedSseEnabled:
			b, err := boolAttr(name, v)
			if err != nil {
				return nil, err
			}
			v = strconv.FormatBool(b)
		case AttrDeduplicationScope:
			if v != "queue" && v != "messageGroup" {
				return nil, errAttrValue(name)
			}
		case AttrFifoThroughputLimit:
			if v != "perQueue" && v != "perMessageGroupId" {
				return nil, errAttrValue(name)
			}
		case AttrRedrivePolicy:
			if v == "" {
				break // removes the policy
			}
			rp, err := parseRedrivePolicy(v)
			if err != nil {
				return nil, err
			}
			exists, dlqFIFO := dlqExists(rp.DeadLetterTargetArn)
			if !exists {
				return nil, errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", v)
			}
			if dlqFIFO != fifo {
				return nil, errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter target must be same type of queue as the source queue.", v)
			}
			b, _ := json.Marshal(rp)
			v = string(b)
		case AttrPolicy, AttrRedriveAllowPolicy:
			if v != "" && !json.Valid([]byte(v)) {
				return nil, errInvalidParam("Invalid value for the parameter %s.", name)
			}
		}
		out[name] = v
	}
	return out, nil
}

// settingsOf parses a queue's stored attributes (already validated).
func settingsOf(fifo bool, a map[string]string) queueSettings {
	atoi := func(name string, def int) int {
		if n, err := strconv.Atoi(a[name]); err == nil {
			return n
		}
		return def
	}
	st := queueSettings{
		fifo:             fifo,
		contentDedup:     a[AttrContentBasedDeduplication] == "true",
		delay:            atoi(AttrDelaySeconds, 0),
		maxSize:          atoi(AttrMaximumMessageSize, DefaultMaximumMessageSize),
		retention:        atoi(AttrMessageRetentionPeriod, DefaultRetentionPeriod),
		waitTime:         atoi(AttrReceiveMessageWaitTimeSeconds, 0),
		visibility:       atoi(AttrVisibilityTimeout, DefaultVisibilityTimeout),
		dedupScopeGroup:  a[AttrDeduplicationScope] == "messageGroup",
		throughputPerGrp: a[AttrFifoThroughputLimit] == "perMessageGroupId",
	}
	if v := a[AttrRedrivePolicy]; v != "" {
		if rp, err := parseRedrivePolicy(v); err == nil {
			st.redrive = &rp
		}
	}
	return st
}

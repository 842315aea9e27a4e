package sqs

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MessageAttributeValue is one message attribute (or message system attribute).
// DataType is String, Number or Binary, optionally with a custom suffix
// ("Number.float"); StringValue carries String and Number, BinaryValue Binary.
type MessageAttributeValue struct {
	DataType         string   `json:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

// MD5OfBody is MD5OfMessageBody: the hex MD5 of the body's bytes.
func MD5OfBody(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// Transport types of SQS's attribute digest.
const (
	transportString = 1
	transportBinary = 2
)

// MD5OfAttributes is MD5OfMessageAttributes (and MD5OfMessageSystemAttributes) as
// SQS computes it and the SDKs check it: over the attributes sorted by name, each
// encoded as name, data type (each a 4-byte big-endian length then the bytes), one
// transport byte (1 string, 2 binary) and the value, also length-prefixed. "" when
// there are no attributes.
func MD5OfAttributes(attrs map[string]MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	var l [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(v.DataType))
		if isBinaryType(v.DataType) {
			h.Write([]byte{transportBinary})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{transportString})
			s := ""
			if v.StringValue != nil {
				s = *v.StringValue
			}
			put([]byte(s))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func isBinaryType(t string) bool { return t == "Binary" || strings.HasPrefix(t, "Binary.") }

// validChar is SQS's allowed set for bodies and string attribute values:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func validChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// checkContents refuses a body or string value with characters SQS does not allow.
func checkContents(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return NewError("InvalidMessageContents", "Invalid binary character was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
			}
		}
		if !validChar(r) {
			return NewError("InvalidMessageContents", "Invalid binary character '#x%X' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", r)
		}
	}
	return nil
}

// checkMessageAttributes validates message attributes as SQS does and returns their
// size as SQS counts it toward MaximumMessageSize (name + type + value).
func checkMessageAttributes(attrs map[string]MessageAttributeValue) (int, error) {
	if len(attrs) > MaxMessageAttributes {
		return 0, errInvalidParam("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(attrs), MaxMessageAttributes)
	}
	size := 0
	for name, v := range attrs {
		if err := checkAttributeName(name); err != nil {
			return 0, err
		}
		t := v.DataType
		if t == "" {
			return 0, errInvalidParam("The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		base, custom, _ := strings.Cut(t, ".")
		if (base != "String" && base != "Number" && base != "Binary") || (strings.Contains(t, ".") && custom == "") || len(t) > 256 {
			return 0, errInvalidParam("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
			return 0, errInvalidParam("Message attribute list values in SendMessage operation are not supported.")
		}
		size += len(name) + len(t)
		switch base {
		case "Binary":
			if len(v.BinaryValue) == 0 || v.StringValue != nil {
				return 0, errInvalidParam("The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
			size += len(v.BinaryValue)
		default:
			if v.StringValue == nil || *v.StringValue == "" {
				return 0, errInvalidParam("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", name, base)
			}
			if v.BinaryValue != nil {
				return 0, errInvalidParam("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, base)
			}
			if base == "Number" && !isNumber(*v.StringValue) {
				return 0, errInvalidParam("Could not cast message attribute '%s' value to number.", name)
			}
			if err := checkContents(*v.StringValue); err != nil {
				return 0, errInvalidParam("Message (user) attribute '%s' value contains invalid binary character.", name)
			}
			size += len(*v.StringValue)
		}
	}
	return size, nil
}

func checkAttributeName(name string) error {
	bad := func(reason string) error {
		return errInvalidParam("Message (user) attribute name '%s' is invalid. %s", name, reason)
	}
	if name == "" || len(name) > maxMessageAttributeNameLength {
		return bad("The attribute name must be between 1 and 256 characters.")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return bad("The attribute name is reserved for use by Amazon Web Services.")
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return bad("The attribute name can not start or end with a period (.), or have multiple successive periods.")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return bad("The attribute name can only contain alphanumeric characters, hyphens (-), underscores (_), or periods (.).")
		}
	}
	return nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

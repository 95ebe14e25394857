package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/aislecast/loyalty/rules"
	"go.yaml.in/yaml/v3"
)

// RuleDoc is one rule's YAML document as a rule file holds it, the unit
// published to the offer-rules topic.
type RuleDoc struct {
	ID      string
	Version int    // the version the file gives (1 when it gives none)
	File    string // where the rule was read from, for messages
	Line    int
	Doc     []byte // the document alone, comments kept
}

// RuleDocs returns the document of every rule of rs, in rs order, reading
// the files the rules were parsed from (Rule.File) through read: os.ReadFile
// for files on disk, an fs.FS reader for embedded ones. A file changed since
// rs was loaded is an error rather than a wrong document.
func RuleDocs(rs *rules.Set, read func(file string) ([]byte, error)) ([]RuleDoc, error) {
	byFile := map[string]map[int]*yaml.Node{} // file → line of the rule → document
	var out []RuleDoc
	for _, r := range rs.Rules() {
		docs, ok := byFile[r.File]
		if !ok {
			data, err := read(r.File)
			if err != nil {
				return nil, fmt.Errorf("read rule file %s: %w", r.File, err)
			}
			if docs, err = splitDocs(data); err != nil {
				return nil, fmt.Errorf("rule file %s: %w", r.File, err)
			}
			byFile[r.File] = docs
		}
		n := docs[r.Line]
		if n == nil {
			return nil, fmt.Errorf("%s:%d: rule %s: no rule starts here any more; was the file changed while it was read?", r.File, r.Line, r.ID)
		}
		doc, err := encodeDoc(n)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: rule %s: %w", r.File, r.Line, r.ID, err)
		}
		if err := checkDoc(r.File, doc, r.ID, r.Version); err != nil {
			return nil, err
		}
		out = append(out, RuleDoc{ID: r.ID, Version: r.Version, File: r.File, Line: r.Line, Doc: doc})
	}
	return out, nil
}

// splitDocs decodes the YAML documents of a file by the line their top
// node starts on, which is the line rules.Parse gives a rule.
func splitDocs(data []byte) (map[int]*yaml.Node, error) {
	docs := map[int]*yaml.Node{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) > 0 {
			top := doc.Content[0]
			for top.Kind == yaml.AliasNode && top.Alias != nil {
				top = top.Alias
			}
			docs[top.Line] = &doc
		}
	}
}

// encodeDoc writes one YAML document node back as text, with the two-space
// indentation rule files use.
func encodeDoc(doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// SetRuleVersion returns the rule document doc with its version set to v:
// the version field is replaced, or added after the id when missing.
func SetRuleVersion(doc []byte, v int) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("rule document is not a mapping")
	}
	m := n.Content[0]
	val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
	at := 0 // where to insert the field: after the id, else first
	for i := 0; i+1 < len(m.Content); i += 2 {
		switch m.Content[i].Value {
		case "version":
			val.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = val
			return encodeDoc(&n)
		case "id":
			at = i + 2
		}
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "version"}
	m.Content = append(m.Content[:at], append([]*yaml.Node{key, val}, m.Content[at:]...)...)
	return encodeDoc(&n)
}

// SameRule reports whether two rule documents say the same apart from
// their version, comments and layout: applying one over the other changes
// nothing.
func SameRule(a, b []byte) bool {
	ca, errA := canonical(a)
	cb, errB := canonical(b)
	return errA == nil && errB == nil && bytes.Equal(ca, cb)
}

// canonical decodes a rule document and encodes it again without its
// version field: map keys sorted, comments, anchors and quoting gone.
func canonical(doc []byte) ([]byte, error) {
	var v map[string]any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	delete(v, "version")
	return yaml.Marshal(v)
}

// docVersion returns the version a rule document gives, 1 when it gives
// none and 0 when it cannot be read, without compiling the rule: a
// document written by a newer release must still count for numbering.
func docVersion(doc []byte) int {
	var v struct {
		Version *int `yaml:"version"`
	}
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return 0
	}
	if v.Version == nil {
		return 1
	}
	return *v.Version
}

// checkDoc parses doc as the rules of file and checks that it holds
// exactly the rule id at version v: the guard against publishing anything
// but what was validated.
func checkDoc(file string, doc []byte, id string, v int) error {
	rs, err := rules.Parse(file, doc)
	if err != nil {
		return fmt.Errorf("rule %s as it would be published does not compile: %w", id, err)
	}
	if len(rs) != 1 || rs[0].ID != id || rs[0].Version != v {
		return fmt.Errorf("rule %s as it would be published does not read back as rule %s v%d", id, id, v)
	}
	return nil
}

package pluginv1_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	pluginv1 "github.com/sshgress/sshgress/sdk/proto/plugin/v1"
)

var update = flag.Bool("update", false, "record the current descriptor as the baseline (only after it passes the compatibility check)")

// baseline is the descriptor of sshgress.plugin.v1 as last accepted.
var baseline = filepath.Join("testdata", "plugin.v1.descriptor.json")

// TestAdditiveOnly enforces the promise of a versioned proto package:
// within v1 a change only adds. Against the recorded baseline, no message,
// field, enum value, service or method may be removed or renamed, and no
// field may change number, type, message type or cardinality. Plugins
// built against an older SDK keep working with a newer edge and the
// reverse. Run `go test -update` after an additive change to record it.
func TestAdditiveOnly(t *testing.T) {
	cur := protodesc.ToFileDescriptorProto(pluginv1.File_plugin_proto)
	raw, err := os.ReadFile(baseline)
	if os.IsNotExist(err) && *update {
		raw, err = protojson.Marshal(cur) // the first baseline
	}
	if err != nil {
		t.Fatalf("read baseline (create it with go test -update): %v", err)
	}
	var old descriptorpb.FileDescriptorProto
	if err := protojson.Unmarshal(raw, &old); err != nil {
		t.Fatalf("parse %s: %v", baseline, err)
	}
	for _, p := range compatProblems(&old, cur) {
		t.Error(p)
	}
	if t.Failed() {
		return
	}
	got, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(cur)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(baseline, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var recorded descriptorpb.FileDescriptorProto
	protojson.Unmarshal(raw, &recorded)
	if !protoEqual(&recorded, cur) {
		t.Errorf("the proto gained something since %s was recorded: run go test -update in sdk/proto/plugin/v1 and commit it", baseline)
	}
}

func protoEqual(a, b *descriptorpb.FileDescriptorProto) bool {
	x, _ := protojson.Marshal(a)
	y, _ := protojson.Marshal(b)
	return string(x) == string(y)
}

// compatProblems lists what cur removed or changed of old.
func compatProblems(old, cur *descriptorpb.FileDescriptorProto) []string {
	var out []string
	if old.GetPackage() != cur.GetPackage() {
		out = append(out, fmt.Sprintf("package %q became %q", old.GetPackage(), cur.GetPackage()))
	}
	msgs := map[string]*descriptorpb.DescriptorProto{}
	var walk func(prefix string, ms []*descriptorpb.DescriptorProto)
	walk = func(prefix string, ms []*descriptorpb.DescriptorProto) {
		for _, m := range ms {
			msgs[prefix+m.GetName()] = m
			walk(prefix+m.GetName()+".", m.GetNestedType())
		}
	}
	walk("", cur.GetMessageType())
	var check func(prefix string, ms []*descriptorpb.DescriptorProto)
	check = func(prefix string, ms []*descriptorpb.DescriptorProto) {
		for _, om := range ms {
			name := prefix + om.GetName()
			cm, ok := msgs[name]
			if !ok {
				out = append(out, fmt.Sprintf("message %s was removed or renamed", name))
				continue
			}
			for _, of := range om.GetField() {
				i := slices.IndexFunc(cm.GetField(), func(f *descriptorpb.FieldDescriptorProto) bool { return f.GetNumber() == of.GetNumber() })
				if i < 0 {
					out = append(out, fmt.Sprintf("field %s.%s (%d) was removed", name, of.GetName(), of.GetNumber()))
					continue
				}
				cf := cm.GetField()[i]
				switch {
				case cf.GetName() != of.GetName():
					out = append(out, fmt.Sprintf("field %s.%s (%d) was renamed %s", name, of.GetName(), of.GetNumber(), cf.GetName()))
				case cf.GetType() != of.GetType() || cf.GetTypeName() != of.GetTypeName():
					out = append(out, fmt.Sprintf("field %s.%s (%d) changed type", name, of.GetName(), of.GetNumber()))
				case cf.GetLabel() != of.GetLabel() || cf.GetProto3Optional() != of.GetProto3Optional():
					out = append(out, fmt.Sprintf("field %s.%s (%d) changed cardinality", name, of.GetName(), of.GetNumber()))
				case cf.GetOneofIndex() != of.GetOneofIndex() || (cf.OneofIndex == nil) != (of.OneofIndex == nil):
					out = append(out, fmt.Sprintf("field %s.%s (%d) moved in or out of a oneof", name, of.GetName(), of.GetNumber()))
				}
			}
			out = append(out, enumProblems(name+".", om.GetEnumType(), cm.GetEnumType())...)
			check(name+".", om.GetNestedType())
		}
	}
	check("", old.GetMessageType())
	out = append(out, enumProblems("", old.GetEnumType(), cur.GetEnumType())...)
	for _, os := range old.GetService() {
		i := slices.IndexFunc(cur.GetService(), func(s *descriptorpb.ServiceDescriptorProto) bool { return s.GetName() == os.GetName() })
		if i < 0 {
			out = append(out, fmt.Sprintf("service %s was removed or renamed", os.GetName()))
			continue
		}
		cs := cur.GetService()[i]
		for _, om := range os.GetMethod() {
			j := slices.IndexFunc(cs.GetMethod(), func(m *descriptorpb.MethodDescriptorProto) bool { return m.GetName() == om.GetName() })
			if j < 0 {
				out = append(out, fmt.Sprintf("method %s.%s was removed or renamed", os.GetName(), om.GetName()))
				continue
			}
			cm := cs.GetMethod()[j]
			if cm.GetInputType() != om.GetInputType() || cm.GetOutputType() != om.GetOutputType() ||
				cm.GetClientStreaming() != om.GetClientStreaming() || cm.GetServerStreaming() != om.GetServerStreaming() {
				out = append(out, fmt.Sprintf("method %s.%s changed its signature", os.GetName(), om.GetName()))
			}
		}
	}
	return out
}

func enumProblems(prefix string, old, cur []*descriptorpb.EnumDescriptorProto) []string {
	var out []string
	for _, oe := range old {
		i := slices.IndexFunc(cur, func(e *descriptorpb.EnumDescriptorProto) bool { return e.GetName() == oe.GetName() })
		if i < 0 {
			out = append(out, fmt.Sprintf("enum %s%s was removed or renamed", prefix, oe.GetName()))
			continue
		}
		for _, ov := range oe.GetValue() {
			if !slices.ContainsFunc(cur[i].GetValue(), func(v *descriptorpb.EnumValueDescriptorProto) bool {
				return v.GetNumber() == ov.GetNumber() && v.GetName() == ov.GetName()
			}) {
				out = append(out, fmt.Sprintf("enum value %s%s.%s (%d) was removed or changed", prefix, oe.GetName(), ov.GetName(), ov.GetNumber()))
			}
		}
	}
	return out
}

// TestCompatProblems: the checker catches each kind of breaking change.
func TestCompatProblems(t *testing.T) {
	base := protodesc.ToFileDescriptorProto(pluginv1.File_plugin_proto)
	clone := func() *descriptorpb.FileDescriptorProto {
		b, _ := protojson.Marshal(base)
		var c descriptorpb.FileDescriptorProto
		protojson.Unmarshal(b, &c)
		return &c
	}
	firstField := func(f *descriptorpb.FileDescriptorProto) *descriptorpb.FieldDescriptorProto {
		for _, m := range f.GetMessageType() {
			if len(m.GetField()) > 0 {
				return m.GetField()[0]
			}
		}
		t.Fatal("no message with a field")
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(*descriptorpb.FileDescriptorProto)
		want   string
	}{
		{"field removed", func(f *descriptorpb.FileDescriptorProto) {
			for _, m := range f.GetMessageType() {
				if len(m.GetField()) > 0 {
					m.Field = m.Field[1:]
					return
				}
			}
		}, "was removed"},
		{"field renumbered", func(f *descriptorpb.FileDescriptorProto) { firstField(f).Number = new(int32(999)) }, "was removed"},
		{"field renamed", func(f *descriptorpb.FileDescriptorProto) { firstField(f).Name = new("renamed") }, "was renamed"},
		{"field type changed", func(f *descriptorpb.FileDescriptorProto) {
			fd := firstField(f)
			if fd.GetType() == descriptorpb.FieldDescriptorProto_TYPE_BYTES {
				fd.Type = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
			} else {
				fd.Type = descriptorpb.FieldDescriptorProto_TYPE_BYTES.Enum()
			}
			fd.TypeName = nil
		}, "changed type"},
		{"message removed", func(f *descriptorpb.FileDescriptorProto) { f.MessageType = f.MessageType[1:] }, "message"},
		{"method removed", func(f *descriptorpb.FileDescriptorProto) { f.Service[0].Method = f.Service[0].Method[1:] }, "method"},
		{"service removed", func(f *descriptorpb.FileDescriptorProto) { f.Service = f.Service[1:] }, "service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := clone()
			tc.mutate(cur)
			probs := compatProblems(base, cur)
			if len(probs) == 0 || !strings.Contains(strings.Join(probs, "\n"), tc.want) {
				t.Errorf("problems = %q, want one saying %q", probs, tc.want)
			}
		})
	}
	added := clone()
	added.MessageType = append(added.MessageType, &descriptorpb.DescriptorProto{Name: new("Added")})
	added.MessageType[0].Field = append(added.MessageType[0].Field, &descriptorpb.FieldDescriptorProto{Name: new("extra"), Number: new(int32(900)), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()})
	if probs := compatProblems(base, added); len(probs) != 0 {
		t.Errorf("additive change reported as breaking: %q", probs)
	}
}

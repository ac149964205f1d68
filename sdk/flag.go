package sdk

// FlagType is the kind of value a command-line flag takes.
type FlagType int

const (
	// FlagString takes a value: --name value or --name=value.
	FlagString FlagType = iota
	// FlagBool takes no value (--name), or an explicit --name=true|false.
	FlagBool
	// FlagInt takes a base-10 integer value.
	FlagInt
)

// String returns the name used for the type in --help output.
func (t FlagType) String() string {
	switch t {
	case FlagBool:
		return "bool"
	case FlagInt:
		return "int"
	default:
		return "string"
	}
}

// FlagSpec declares one flag a plugin owns. The core builds each command's
// flag set from the specs of the enabled plugins and hands each plugin the
// parsed values of its own flags only.
type FlagSpec struct {
	// Name is the long name without dashes, e.g. "basic-auth".
	Name string
	// Type is the kind of value the flag takes.
	Type FlagType
	// Repeatable allows the flag more than once; its values arrive in order.
	Repeatable bool
	// Help is one sentence for --help output.
	Help string
	// ValueName names the value in --help output, e.g. "USER:PASSWORD".
	ValueName string
	// Sensitive marks values that must never be logged or echoed
	// (passwords, secrets). The core redacts them everywhere.
	Sensitive bool
	// Commands lists the endpoint types (commands) the flag applies to,
	// e.g. ["http"]. Empty means every command.
	Commands []string
}

// AppliesTo reports whether the flag belongs to the named command.
func (f FlagSpec) AppliesTo(command string) bool {
	if len(f.Commands) == 0 {
		return true
	}
	for _, c := range f.Commands {
		if c == command {
			return true
		}
	}
	return false
}

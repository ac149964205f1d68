package command

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sshgress/sshgress/sdk"
)

// TestCommandsFromManifests: a plugin's endpoint command, its help and the
// "not enabled" answers for a known but disabled plugin come from the
// plugin's manifest alone (a made-up plugin here, so the core can know
// none by name).
func TestCommandsFromManifests(t *testing.T) {
	game := sdk.Manifest{
		Name: "arcade",
		EndpointTypeSpecs: []sdk.EndpointTypeSpec{{
			Name: "game", Summary: "Publish a local game server at a public port", Ports: "25565 or 0",
			RemotePorts: []uint32{25565, 0}, Example: "ssh -R 0:localhost:25565 v2@{host} game",
		}},
		EndpointTypes: []string{"bare"},
		Flags:         []sdk.FlagSpec{{Name: "max-players", Type: sdk.FlagInt, Commands: []string{"game"}, Help: "At most this many players."}},
	}
	var cmds []Command
	for _, e := range game.Endpoints() {
		cmds = append(cmds, EndpointCommand(e, game.Name))
	}
	want := []Command{
		{Name: "game", Summary: "Publish a local game server at a public port", Ports: "25565 or 0", Example: "ssh -R 0:localhost:25565 v2@{host} game"},
		{Name: "bare", Summary: "Endpoint type provided by the arcade plugin"},
	}
	if !reflect.DeepEqual(cmds, want) {
		t.Fatalf("commands %+v, want %+v", cmds, want)
	}
	set, err := NewSet(Options{Host: "edge.example.com"}, cmds...)
	if err != nil {
		t.Fatal(err)
	}
	help := set.Help("game")
	for _, line := range []string{"Publish a local game server at a public port", "Remote ports: 25565 or 0", "ssh -R 0:localhost:25565 v2@edge.example.com game"} {
		if !strings.Contains(help, line) {
			t.Errorf("help for game lacks %q:\n%s", line, help)
		}
	}

	off, flags := Unavailable([]sdk.Manifest{game})
	if want := map[string]string{"game": "arcade", "bare": "arcade"}; !reflect.DeepEqual(off, want) {
		t.Errorf("unavailable commands %v, want %v", off, want)
	}
	if want := map[string]string{"max-players": "arcade"}; !reflect.DeepEqual(flags, want) {
		t.Errorf("unavailable flags %v, want %v", flags, want)
	}
	set, err = NewSet(Options{Disabled: off, DisabledFlags: flags}, Command{Name: "http"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Parse(Latest, "game", "http")
	if err == nil || !strings.Contains(err.Error(), "game endpoints are not enabled on this server (they need the arcade plugin)") {
		t.Errorf("Parse(game) with arcade disabled = %v, want it to name the plugin", err)
	}
}

// TestSameFlagDifferentCommands: one flag name owned by different plugins
// for different commands (--cidr-allow of tcp and of an http filter)
// parses for each command with its own owner, and with the http plugin
// off, the http flag names that plugin instead of pointing at tcp.
func TestSameFlagDifferentCommands(t *testing.T) {
	cidr := func(cmd string) sdk.FlagSpec {
		return sdk.FlagSpec{Name: "cidr-allow", Type: sdk.FlagString, Repeatable: true, Commands: []string{cmd}}
	}
	filter := sdk.Manifest{Name: "filter", Flags: []sdk.FlagSpec{cidr("http")}}
	tcp := Command{Name: "tcp", Flags: []Flag{{FlagSpec: cidr("tcp"), Owner: "tcpp"}}}

	set, err := NewSet(Options{}, Command{Name: "http", Flags: []Flag{{FlagSpec: cidr("http"), Owner: "filter"}}}, tcp)
	if err != nil {
		t.Fatal(err)
	}
	for cmd, owner := range map[string]string{"http": "filter", "tcp": "tcpp"} {
		inv, err := set.Parse(Latest, cmd+" --cidr-allow 10.0.0.0/8", cmd)
		if err != nil {
			t.Fatalf("Parse(%s): %v", cmd, err)
		}
		if got := set.GroupByOwner(inv); !reflect.DeepEqual(got, map[string]map[string][]string{owner: {"cidr-allow": {"10.0.0.0/8"}}}) {
			t.Errorf("%s: values by owner %v, want all for %s", cmd, got, owner)
		}
	}

	off := []sdk.Manifest{filter}
	_, flags := Unavailable(off)
	set, err = NewSet(Options{DisabledFlags: flags, DisabledCommandFlags: UnavailableFlags(off)}, Command{Name: "http"}, tcp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Parse(Latest, "http --cidr-allow 10.0.0.0/8", "http")
	if want := "--cidr-allow on http endpoints needs the filter plugin, which is not enabled on this server."; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse(http --cidr-allow) with filter off = %v, want %q", err, want)
	}
	if _, err := set.Parse(Latest, "tcp --cidr-allow 10.0.0.0/8", "tcp"); err != nil {
		t.Errorf("Parse(tcp --cidr-allow) = %v, want it accepted", err)
	}
}

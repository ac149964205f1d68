package pluginhost

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel SIGKILL the plugin when the edge
// dies, so a killed edge leaves no orphan plugin processes. (The signal is
// tied to the thread that started the child; Go never retires such threads
// unless a goroutine locked to one exits, which the host does not do.)
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

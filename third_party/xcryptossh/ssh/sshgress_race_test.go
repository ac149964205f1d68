//go:build race

package ssh

// sshgressRace says the tests were built with -race (sshgress patch).
const sshgressRace = true

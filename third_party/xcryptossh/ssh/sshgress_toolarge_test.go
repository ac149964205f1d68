// sshgress patch: tests of the too-large packet handling.

package ssh

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"errors"
	"testing"
)

// TestPacketTooLargeDiscarded: a packet announcing more than maxPacket
// bytes is read to its end and dropped, up to maxDiscard, and reported
// as a PacketTooLargeError, for each cipher whose length is in clear.
func TestPacketTooLargeDiscarded(t *testing.T) {
	for _, algs := range []DirectionAlgorithms{
		{Cipher: CipherAES128GCM, compression: compressionNone},
		{Cipher: CipherAES128CTR, MAC: HMACSHA256ETM, compression: compressionNone},
	} {
		t.Run(algs.Cipher, func(t *testing.T) {
			for _, tc := range []struct {
				length  uint32
				drained bool
			}{
				{300 << 10, true},
				{maxDiscard + 1, false},
			} {
				reader, err := newPacketCipher(clientKeys, algs, &kexResult{Hash: crypto.SHA256})
				if err != nil {
					t.Fatal(err)
				}
				// On the wire: the length, then that many bytes and the
				// tag (GCM, 16 bytes) or the MAC (HMAC-SHA256, 32 bytes).
				tag, header := 16, 4
				if algs.MAC != "" {
					tag, header = 32, prefixLen // the padding length byte too
				}
				rest := int(tc.length) + tag
				var wire bytes.Buffer
				binary.Write(&wire, binary.BigEndian, tc.length)
				wire.Write(make([]byte, rest))
				wire.WriteString("next")
				_, err = reader.readCipherPacket(0, &wire)
				var tooLarge *PacketTooLargeError
				if !errors.As(err, &tooLarge) || tooLarge.Length != tc.length {
					t.Fatalf("length %d: err %v, want a PacketTooLargeError for it", tc.length, err)
				}
				left := wire.Len()
				if tc.drained && left != len("next") {
					t.Errorf("length %d: %d bytes left, want the packet read to its end", tc.length, left)
				}
				if !tc.drained && left != rest-(header-4)+len("next") {
					t.Errorf("length %d over maxDiscard: %d bytes left, want nothing read past the length", tc.length, left)
				}
			}
		})
	}
}

package crypt_test

import (
	"fmt"

	"github.com/chatsafe/chatsafe/crypt"
)

func ExampleParseRecoveryKey() {
	// Typed back by a person: case, spaces, dashes and newlines do not matter.
	k, err := crypt.ParseRecoveryKey("0a1b 2c3d 4e5f 6071 8293 a4b5 c6d7 e8f9\n0A1B-2C3D-4E5F-6071-8293-A4B5-C6D7-E8F9")
	fmt.Println(k.RecoveryKey(), err)

	_, err = crypt.ParseRecoveryKey("0A1B-2C3D-4E5F")
	fmt.Println(err)
	_, err = crypt.ParseRecoveryKey("0A1Bg")
	fmt.Println(err)
	// Output:
	// 0A1B-2C3D-4E5F-6071-8293-A4B5-C6D7-E8F9-0A1B-2C3D-4E5F-6071-8293-A4B5-C6D7-E8F9 <nil>
	// malformed recovery key: it has 12 hex digits, want 64 (16 groups of 4 like 0A1B-2C3D-...)
	// malformed recovery key: character 'g' at position 5 is not a hex digit (0-9, A-F); a recovery key is 64 hex digits (16 groups of 4 like 0A1B-2C3D-...)
}

func ExampleAEAD() {
	backupKey, err := crypt.NewKey()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(backupKey) // never the bytes

	seal := crypt.NewAEAD(backupKey.Subkey(crypt.PurposeSeal))
	repoID := [16]byte{1}
	ad := crypt.AssociatedData("snapshot", repoID, []byte("0001"))
	sealed := seal.Seal(nil, []byte("hello"), ad)

	plain, err := seal.Open(nil, sealed, ad)
	fmt.Printf("%s %v\n", plain, err)

	// The same bytes presented as another snapshot fail to open.
	_, err = seal.Open(nil, sealed, crypt.AssociatedData("snapshot", repoID, []byte("0002")))
	fmt.Println(err != nil)
	// Output:
	// crypt.Key(REDACTED)
	// hello <nil>
	// true
}

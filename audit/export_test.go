package audit

// Remembered is how many pseudonyms k remembers between Principal and
// Record.
func Remembered(k *PseudonymKeys) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.issued) + len(k.older)
}

// IssuedLimit is issuedLimit, for the test of the bound.
const IssuedLimit = issuedLimit

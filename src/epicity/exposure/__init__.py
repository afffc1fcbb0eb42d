"""Privacy-preserving exposure notification: GAEN cryptography, the key server, a reference
client (what a phone does), venue check-ins, and the comparison with location-based tracing."""

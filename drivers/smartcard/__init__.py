"""Smart-card readers: CCID over pyusb, PC/SC through pcscd (pyscard)."""

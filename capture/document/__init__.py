"""Identity documents: ICAO 9303 MRZ, BAC and secure messaging, LDS, passive authentication, CCCD rules."""

"""Face capture: detection, landmarks, ICAO / ISO/IEC 19794-5 portrait checks, the token image."""

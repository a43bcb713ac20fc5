"""PACE against ICAO Doc 9303-11 Appendix G.1 (ECDH Generic Mapping, brainpoolP256r1, AES-128),
value by value, and the terminal's side of the example's APDU exchange byte for byte.

The values are the standard's; they are reproduced in several independent implementations' tests
(gmrtd's TestDecryptNonce / TestDoECDH, dmrtd, jcexpress's IcaoAppendixG1PaceTest).  MRZ of the
example: document T22000129, birth 640812, expiry 101031.
"""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from capture.document import pace
from capture.document.mrz import MrzInformation
from drivers.smartcard.base import CommandAPDU, ResponseAPDU

H = bytes.fromhex
MRZ_INFORMATION = MrzInformation("T22000129", "640812", "101031")
K = "7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD"
K_PI = "89DED1B26624EC1E634C1989302849DD"
NONCE_Z = "95A3A016522EE98D01E76CB6B98B42C3"
NONCE_S = "3F00C4D39D153F2B2A214A078D899B22"
SK_MAP_IFD = 0x7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99
PK_MAP_IFD = ("047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E"
              "544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D")
PK_MAP_IC = ("04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57"
             "30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54")
H_POINT = ("0460332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD5"
           "0840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181")
G_MAPPED = ("048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2"
            "8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522")
SK_IFD = 0xA73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595
PK_IFD = ("042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C"
          "3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462")
PK_IC = ("049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB"
         "7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094")
SHARED = "28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925"
KS_ENC = "F5F0E35C0D7161EE6724EE513A0D9A7F"
KS_MAC = "FE251C7858B356B24514B3BD5F4297D1"
T_IFD = "C2B0BD78D94BA866"
T_IC = "3ABB9674BCE93C08"
OID = pace.ID_PACE_ECDH_GM_AES_128
curve = pace.BRAINPOOL_P256R1


@pytest.mark.parametrize(("ours", "named"), [(pace.BRAINPOOL_P256R1, ec.BrainpoolP256R1()),
                                             (pace.NIST_P256, ec.SECP256R1())])
def test_curve_constants_agree_with_cryptography(ours, named):
    for k in (1, 2, 0xDEADBEEF):
        numbers = ec.derive_private_key(k, named).public_key().public_numbers()
        assert ours.multiply(k, ours.g) == (numbers.x, numbers.y)


def test_password_and_nonce():
    key = pace.password_key(mrz_information=MRZ_INFORMATION.key_seed_input)
    assert key == H(K)
    assert pace.kdf(key, 3) == H(K_PI)
    assert pace.decrypt_nonce(H(K_PI), H(NONCE_Z)) == H(NONCE_S)


def test_generic_mapping():
    assert curve.encode(curve.multiply(SK_MAP_IFD, curve.g)) == H(PK_MAP_IFD)
    assert curve.encode(curve.multiply(SK_MAP_IFD, curve.decode(H(PK_MAP_IC)))) == H(H_POINT)
    assert curve.encode(pace.map_generator(curve, H(NONCE_S), SK_MAP_IFD, curve.decode(H(PK_MAP_IC)))) == H(G_MAPPED)


def test_key_agreement_session_keys_and_tokens():
    mapped = curve.decode(H(G_MAPPED))
    assert curve.encode(curve.multiply(SK_IFD, mapped)) == H(PK_IFD)
    shared = curve.multiply(SK_IFD, curve.decode(H(PK_IC)))[0].to_bytes(32, "big")
    assert shared == H(SHARED)
    assert pace.kdf(shared, 1) == H(KS_ENC) and pace.kdf(shared, 2) == H(KS_MAC)
    assert pace.auth_token(H(KS_MAC), OID, H(PK_IC)) == H(T_IFD)
    assert pace.auth_token(H(KS_MAC), OID, H(PK_IFD)) == H(T_IC)


TRANSCRIPT = [
    ("0022C1A40F800A04007F00070202040202830101", "9000"),
    ("10860000027C0000", "7C128010" + NONCE_Z + "9000"),
    ("10860000457C438141" + PK_MAP_IFD + "00", "7C438241" + PK_MAP_IC + "9000"),
    ("10860000457C438341" + PK_IFD + "00", "7C438441" + PK_IC + "9000"),
    ("008600000C7C0A8508" + T_IFD + "00", "7C0A8608" + T_IC + "9000"),
]


def scripted(transcript):
    expected = list(transcript)

    def transmit(command: CommandAPDU) -> ResponseAPDU:
        wanted, answer = expected.pop(0)
        assert command.to_bytes().hex().upper() == wanted
        return ResponseAPDU.from_bytes(H(answer))

    return transmit, expected


def the_example_keys():
    keys = iter([SK_MAP_IFD, SK_IFD])
    return lambda _curve: next(keys)


def test_the_terminal_side_of_the_exchange_byte_for_byte():
    transmit, left = scripted(TRANSCRIPT)
    keys = pace.establish(transmit, OID, 13, H(K), random_scalar=the_example_keys())
    assert not left
    assert (keys.ks_enc, keys.ks_mac, keys.chip_token) == (H(KS_ENC), H(KS_MAC), H(T_IC))


def test_a_wrong_chip_token_is_refused():
    transcript = [*TRANSCRIPT[:-1], (TRANSCRIPT[-1][0], "7C0A8608" + "00" * 8 + "9000")]
    transmit, _ = scripted(transcript)
    with pytest.raises(pace.PaceError, match="token"):
        pace.establish(transmit, OID, 13, H(K), random_scalar=the_example_keys())


def test_a_point_off_the_curve_is_refused():
    off = PK_MAP_IC[:-2] + "55"
    transcript = [*TRANSCRIPT[:2], (TRANSCRIPT[2][0], "7C438241" + off + "9000"), *TRANSCRIPT[3:]]
    transmit, _ = scripted(transcript)
    with pytest.raises(pace.PaceError, match="not on brainpoolP256r1"):
        pace.establish(transmit, OID, 13, H(K), random_scalar=the_example_keys())


def test_wrong_password_refused_by_the_chip_is_a_pace_error():
    transmit, _ = scripted([TRANSCRIPT[0], TRANSCRIPT[1], (TRANSCRIPT[2][0], "6300")])
    with pytest.raises(pace.PaceError) as raised:
        pace.establish(transmit, OID, 13, H(K), random_scalar=the_example_keys())
    assert raised.value.sw == 0x6300


def test_aes_secure_messaging_with_the_example_session_keys():
    """SELECT of the eMRTD application under the G.1 session keys, SSC 0 (9303-11 9.8.6.3); the
    protected APDUs as jcexpress's icao-sm-vectors (aes-session) give them - a third-party vector,
    not one printed in the standard."""
    from capture.document.secure_messaging import AesSecureMessaging

    sm = AesSecureMessaging(H(KS_ENC), H(KS_MAC), bytes(16))
    protected = sm.protect(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, H("A0000002471001")))
    assert protected.to_bytes() == H("0CA4040C1D871101752F676B09FAC86A87D632749A49C7CC8E08C18BA1FCE707BD9F00")
    answer = sm.unprotect(ResponseAPDU.from_bytes(H("990290008E08BEA7B381C494A0799000")))
    assert answer.ok and answer.data == b""

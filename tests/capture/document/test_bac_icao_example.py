"""BAC and secure messaging against the worked example of ICAO Doc 9303-11 Appendix D, value by value."""

import pytest

from capture.document import bac
from capture.document.mrz import MrzInformation, parse_mrz
from capture.document.secure_messaging import SecureMessaging, SecureMessagingError
from drivers.smartcard.base import CommandAPDU, ResponseAPDU

H = bytes.fromhex

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C<3UTO6908061F9406236ZE184226B<<<<<14"
KENC = H("AB94FDECF2674FDFB9B391F85D7F76F2")
KMAC = H("7962D9ECE03D1ACD4C76089DCE131543")
RND_IC = H("4608F91988702212")
RND_IFD = H("781723860C06C226")
K_IFD = H("0B795240CB7049B01C19B33E32804F0B")
K_IC = H("0B4F80323EB3191CB04970CB4052790B")
CHIP_ANSWER = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")
KS_ENC = H("979EC13B1CBFE9DCD01AB0FED307EAE5")
KS_MAC = H("F1CB1F1FB5ADF208806B89DC579DC1F8")
SSC = H("887022120C06C226")


def test_mrz_information_and_key_seed():
    info = parse_mrz(TD3).information
    assert info.key_seed_input == "L898902C<369080619406236"
    assert bac.key_seed(info.key_seed_input) == H("239AB9CB282DAF66231DC5A4DF6BFBAE")


def test_access_keys_with_parity():
    seed = H("239AB9CB282DAF66231DC5A4DF6BFBAE")
    assert bac.derive_key(seed, bac.ENC_COUNTER) == KENC
    assert bac.derive_key(seed, bac.MAC_COUNTER) == KMAC


def test_external_authenticate_data():
    s = RND_IFD + RND_IC + K_IFD
    assert s == H("781723860C06C2264608F919887022120B795240CB7049B01C19B33E32804F0B")
    e_ifd = bac.encrypt(KENC, s)
    assert e_ifd == H("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2")
    assert bac.retail_mac(KMAC, e_ifd) == H("5F1448EEA8AD90A7")
    assert bac.mutual_auth_data(RND_IC, RND_IFD, K_IFD, KENC, KMAC) == e_ifd + H("5F1448EEA8AD90A7")


def test_chip_answer_gives_k_ic_and_session_keys():
    assert bac.check_mutual_auth_response(CHIP_ANSWER, RND_IC, RND_IFD, KENC, KMAC) == K_IC
    keys = bac.session_keys(K_IFD, K_IC, RND_IC, RND_IFD)
    assert (keys.ks_enc, keys.ks_mac, keys.ssc) == (KS_ENC, KS_MAC, SSC)


def test_a_chip_answer_with_a_wrong_mac_is_refused():
    forged = CHIP_ANSWER[:-1] + bytes([CHIP_ANSWER[-1] ^ 1])
    with pytest.raises(bac.BacError, match="MAC"):
        bac.check_mutual_auth_response(forged, RND_IC, RND_IFD, KENC, KMAC)


def test_an_answer_to_another_challenge_is_refused():
    with pytest.raises(bac.BacError, match="challenge"):
        bac.check_mutual_auth_response(CHIP_ANSWER, RND_IC, H("0000000000000000"), KENC, KMAC)


def test_secure_messaging_select_and_read_ef_com():
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    select = sm.protect(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, H("011E")))
    assert select.to_bytes() == H("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
    assert sm.unprotect(ResponseAPDU.from_bytes(H("990290008E08FA855A5D4C50A8ED9000"))).ok

    read = sm.protect(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=4))
    assert read.to_bytes() == H("0CB000000D9701048E08ED6705417E96BA5500")
    answer = sm.unprotect(ResponseAPDU.from_bytes(H("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")))
    assert answer.data == H("60145F01") and answer.ok

    rest = sm.protect(CommandAPDU(0x00, 0xB0, 0x00, 0x04, le=0x12))
    assert rest.to_bytes() == H("0CB000040D9701128E082EA28A70F3C7B53500")
    answer = sm.unprotect(ResponseAPDU.from_bytes(H(
        "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000")))
    assert answer.data == H("04303130365F36063034303030305C026175")
    assert H("60145F01") + answer.data == H("60145F0104303130365F36063034303030305C026175")


def test_a_replayed_response_fails_its_mac():
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    sm.protect(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, H("011E")))
    sm.unprotect(ResponseAPDU.from_bytes(H("990290008E08FA855A5D4C50A8ED9000")))
    sm.protect(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=4))
    with pytest.raises(SecureMessagingError, match="MAC"):  # the SELECT answer again, with the wrong SSC
        sm.unprotect(ResponseAPDU.from_bytes(H("990290008E08FA855A5D4C50A8ED9000")))


def test_the_td1_example_of_9303_5():
    mrz = parse_mrz("I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<")
    assert (mrz.document_number, mrz.birth_date, mrz.expiry_date, mrz.sex) == ("D23145890", "740812", "120415", "F")
    assert mrz.information == MrzInformation("D23145890", "740812", "120415")
    assert (mrz.surname, mrz.given_names) == ("ERIKSSON", "ANNA MARIA")

import pytest

from leadrelay.lead.webmail import WEBMAIL_DOMAINS, is_webmail


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.jp",
        "yahoo.com.br",
        "hotmail.co.uk",
        "outlook.com",
        "live.fr",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "zoho.com",
        "rediffmail.com",
        "libero.it",
        "orange.fr",
        "free.fr",
        "t-online.de",
        "uol.com.br",
        "bol.com.br",
    ],
)
def test_well_known_free_mail_domains_are_webmail(domain):
    assert is_webmail(domain) is True


@pytest.mark.parametrize("domain", ["acme.com", "example.org", "segment.com", "google.com"])
def test_company_domains_are_not_webmail(domain):
    assert is_webmail(domain) is False


def test_matching_ignores_case_surrounding_whitespace_and_a_trailing_dot():
    assert is_webmail("GMail.COM") is True
    assert is_webmail("  gmail.com\n") is True
    assert is_webmail("gmail.com.") is True


@pytest.mark.parametrize(
    "domain", ["eu.gmail.com", "gmail.com.acme.io", "mail.acme-gmail.com", "gmail", ""]
)
def test_only_the_exact_registered_domain_matches(domain):
    assert is_webmail(domain) is False


def test_a_full_email_address_is_not_a_domain():
    assert is_webmail("ada@gmail.com") is False


def test_extra_domains_count_as_webmail_alongside_the_built_in_list():
    extra = frozenset({"mail.example-isp.net"})

    assert is_webmail("Mail.Example-ISP.net", extra) is True
    assert is_webmail("gmail.com", extra) is True
    assert is_webmail("mail.example-isp.net") is False


@pytest.mark.parametrize("domain", [None, 42, b"gmail.com", ["gmail.com"]])
def test_a_non_string_is_never_webmail(domain):
    assert is_webmail(domain) is False


def test_the_built_in_list_is_large_and_every_entry_is_a_clean_lower_case_domain():
    assert len(WEBMAIL_DOMAINS) >= 120
    for domain in WEBMAIL_DOMAINS:
        assert domain == domain.strip().lower(), domain
        assert "." in domain and not domain.startswith(".") and not domain.endswith("."), domain
        assert "@" not in domain and " " not in domain, domain

"""Free and consumer mailbox domains.

A lead writing from one of these domains tells us nothing about the company it works for,
so enrichment and account matching skip them. The list covers the big global providers,
their country variants, and the large national webmail and ISP mailbox domains. It is
deliberately an exact-match list of registered domains: no wildcards and no subdomain
matching, so that `mail.acme-gmail.com` or `gmail.com.acme.io` can never be misread as
webmail. Deployments add their own domains through the `extra` argument.
"""

from __future__ import annotations

WEBMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # Google
        "gmail.com",
        "googlemail.com",
        # Yahoo (and the brands it absorbed)
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.co.in",
        "yahoo.co.jp",
        "yahoo.co.id",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.it",
        "yahoo.es",
        "yahoo.ca",
        "yahoo.gr",
        "yahoo.ie",
        "yahoo.in",
        "yahoo.se",
        "yahoo.dk",
        "yahoo.com.au",
        "yahoo.com.ar",
        "yahoo.com.br",
        "yahoo.com.mx",
        "yahoo.com.sg",
        "yahoo.com.ph",
        "yahoo.com.hk",
        "yahoo.com.tw",
        "yahoo.com.vn",
        "ymail.com",
        "rocketmail.com",
        # Microsoft
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.co.jp",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "hotmail.be",
        "hotmail.nl",
        "hotmail.se",
        "hotmail.com.ar",
        "hotmail.com.br",
        "outlook.com",
        "outlook.fr",
        "outlook.de",
        "outlook.it",
        "outlook.es",
        "outlook.jp",
        "outlook.com.br",
        "live.com",
        "live.co.uk",
        "live.fr",
        "live.de",
        "live.it",
        "live.nl",
        "live.be",
        "live.ca",
        "live.se",
        "live.com.au",
        "live.com.mx",
        "msn.com",
        # AOL
        "aol.com",
        "aol.co.uk",
        "aol.de",
        "aol.fr",
        "aim.com",
        # Apple
        "icloud.com",
        "me.com",
        "mac.com",
        # Privacy-focused providers
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "tuta.com",
        "tutamail.com",
        "hushmail.com",
        "posteo.de",
        "mailbox.org",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        # Zoho, mail.com
        "zoho.com",
        "zohomail.com",
        "mail.com",
        "email.com",
        # GMX / United Internet
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "gmx.at",
        "gmx.ch",
        "gmx.fr",
        "gmx.us",
        "web.de",
        # Germany, Austria, Switzerland
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "bluewin.ch",
        # Russia, Ukraine, CIS
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "internet.ru",
        "rambler.ru",
        "yandex.ru",
        "yandex.com",
        "yandex.ua",
        "yandex.by",
        "yandex.kz",
        "yandex.com.tr",
        "ya.ru",
        "ukr.net",
        "i.ua",
        # China
        "qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "aliyun.com",
        "139.com",
        # Korea
        "naver.com",
        "daum.net",
        "hanmail.net",
        "kakao.com",
        "nate.com",
        # Japan (mobile carriers' mailboxes are personal addresses)
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "softbank.ne.jp",
        "i.softbank.jp",
        # India
        "rediffmail.com",
        # Italy
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "tin.it",
        "email.it",
        # France
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "neuf.fr",
        "bbox.fr",
        # Spain, Portugal
        "terra.es",
        "telefonica.net",
        "sapo.pt",
        # United Kingdom, Ireland
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "ntlworld.com",
        "talktalk.net",
        # Benelux
        "ziggo.nl",
        "kpnmail.nl",
        "planet.nl",
        "home.nl",
        "telenet.be",
        "skynet.be",
        # Central and Eastern Europe
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "interia.pl",
        "seznam.cz",
        "centrum.cz",
        "email.cz",
        "freemail.hu",
        "citromail.hu",
        # Latin America
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        # North American ISPs
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "juno.com",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        # Australia
        "bigpond.com",
        "optusnet.com.au",
        # Israel
        "walla.co.il",
    }
)


def is_webmail(domain: str, extra: frozenset[str] = frozenset()) -> bool:
    """Tell whether `domain` is a free or consumer mailbox domain.

    The comparison is case-insensitive and ignores surrounding whitespace and a trailing
    dot (`Gmail.COM.` matches). It is an exact match on the whole domain: subdomains such
    as `eu.gmail.com` do not match, and neither does a full e-mail address; pass the part
    after the `@` (see `leadrelay.activity.segment.email_domain`).

    `extra` holds deployment-specific domains checked alongside the built-in list; write
    them in lower case. Anything that is not a string is never webmail.
    """
    if not isinstance(domain, str):
        return False
    key = domain.strip().lower().rstrip(".")
    return key in WEBMAIL_DOMAINS or key in extra

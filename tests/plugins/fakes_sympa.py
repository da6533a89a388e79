"""A stand-in Sympa 6.2 serving the shapes of ../shared/REFERENCE.md ("Sympa (6.2)").

Sympa cannot run here, so this aiohttp app serves what its three HTTP faces answer:

- WWSympa's home page at ``/sympa`` (HTML 200 from ``main.tt2``: a ``generator`` meta tag
  with the version, ``/static-sympa/`` assets);
- the WSDL at ``/sympa/wsdl`` (``text/xml``, ``targetNamespace`` ``<wwsympa_url>/wsdl``,
  ``soapAction`` ``urn:sympasoap#<op>``, ``<soap:address location="<soap_url>">``; 404
  when the file is missing);
- the SOAP daemon at ``/sympasoap``: without a login, ``checkCookie`` gets SOAP::Lite's
  Fault (faultcode ``soap:Client``, faultstring ``User not authenticated``, detail ``You
  should login first``) with HTTP 500. A call it does not recognise (wrong SOAPAction or
  body) gets SOAP::Lite's "Denied access to method" fault, which the probe must not take
  for a healthy answer.

Each face has a ``mode`` to play the failures a real installation shows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from xml.etree import ElementTree

from aiohttp import web

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

HOME_MODES = ("ok", "error500", "not_sympa", "themed")
WSDL_MODES = ("ok", "missing", "no_address", "html")
SOAP_MODES = ("fault", "answer", "html500", "bad_gateway", "server_fault", "garbage", "hang")


def home_page(version: str = "6.2.72") -> str:
    """The home page as ``main.tt2`` renders it (trimmed)."""
    return f"""<!DOCTYPE html>
<html lang="fr" xml:lang="fr">
<!-- main.tt2 -->
<head>
<meta charset="UTF-8" />
<meta name="generator" content="Sympa {version}" />

<meta name="viewport" content="width=device-width, initial-scale=1.0">

<title> Listes de diffusion - home </title>

<link rel="stylesheet" href="/static-sympa/external/jquery-ui.css" />
<link rel="stylesheet" href="/static-sympa/css/style.css" />
</head>
<body>
<div id="top"><a class="displayNone" name="top" href="#content-inner">Aller au contenu.</a></div>
<main id="content-inner" class="row"><h2>Bienvenue sur le serveur de listes</h2></main>
</body>
</html>
"""


THEMED_HOME = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="UTF-8" /><title>Listes de la coop</title></head>
<body><h1>Les listes de la coop</h1></body></html>
"""

APACHE_500 = """<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>500 Internal Server Error</title>
</head><body>
<h1>Internal Server Error</h1>
<p>The server encountered an internal error or
misconfiguration and was unable to complete
your request.</p>
<hr>
<address>Apache/2.4.62 (Debian) Server at listes.example.coop Port 443</address>
</body></html>
"""

NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

NGINX_WELCOME = """<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1></body></html>
"""


def wsdl_document(wwsympa_url: str, soap_url: str) -> str:
    """Sympa's ``sympa.wsdl`` template filled in, reduced to the checkCookie operation."""
    return f"""<?xml version="1.0"?>
<definitions name="Sympa"
	xmlns:xsd="http://www.w3.org/2001/XMLSchema"
	xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
	targetNamespace="{wwsympa_url}/wsdl"
	xmlns:tns="{wwsympa_url}/wsdl"
	xmlns="http://schemas.xmlsoap.org/wsdl/"
	xmlns:xsdl="{soap_url}/wsdl">

<!-- message part -->

<message name="checkCookieRequest">
</message>

<message name="checkCookieResponse">
	<part name="email" type="xsd:string"/>
</message>

<!-- portType part -->

<portType name="SympaPort">
	<operation name="checkCookie">
		<input message="tns:checkCookieRequest" />
		<output message="tns:checkCookieResponse" />
	</operation>
</portType>

<!-- Binding part -->

<binding name="SOAP" type="tns:SympaPort">
<soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>
	<operation name="checkCookie">
		<soap:operation soapAction="urn:sympasoap#checkCookie"/>
			<input>
				<soap:body use="encoded"
					namespace="urn:sympasoap"
					encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/>
			</input>
			<output>
				<soap:body use="encoded"
					namespace="urn:sympasoap"
					encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/>
			</output>
	</operation>
</binding>

<!-- service part -->

<service name="SympaSOAP">
	<port name="SympaPort" binding="tns:SOAP">
		<soap:address location="{soap_url}"/>
	</port>
</service>

</definitions>
"""


def soap_envelope(body: str) -> str:
    """A SOAP::Lite response envelope around ``body``."""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soap:Envelope soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" '
            f'xmlns:soap="{SOAP_ENV}" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soap:Body>{body}</soap:Body></soap:Envelope>')


def soap_fault(code: str, string: str, detail: str) -> str:
    """A SOAP 1.1 Fault as SOAP::Lite serialises ``die SOAP::Fault->faultcode(...)``."""
    return soap_envelope(f'<soap:Fault><faultcode>soap:{code}</faultcode>'
                         f'<faultstring>{string}</faultstring><detail>{detail}</detail>'
                         '</soap:Fault>')


NOT_AUTHENTICATED = soap_fault("Client", "User not authenticated", "You should login first")
CHECK_COOKIE_ANSWER = soap_envelope(
    '<checkCookieResponse xmlns="urn:sympasoap">'
    '<result xsi:type="xsd:string">listmaster@example.coop</result></checkCookieResponse>')


def _is_check_cookie(body: bytes) -> bool:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False
    call = root.find(f"{{{SOAP_ENV}}}Body/{{urn:sympasoap}}checkCookie")
    return root.tag == f"{{{SOAP_ENV}}}Envelope" and call is not None


@dataclass
class FakeSympa:
    """Settings of the fake server; change the modes between requests."""

    home: str = "ok"
    wsdl: str = "ok"
    soap: str = "fault"
    version: str = "6.2.72"
    #: base address, set once the server listens
    base: str = ""
    #: requests seen: (method, path, headers)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The ``wwsympa_url``."""
        return f"{self.base}/sympa"

    @property
    def soap_url(self) -> str:
        """The ``soap_url``."""
        return f"{self.base}/sympasoap"

    def app(self) -> web.Application:
        """The aiohttp application serving this Sympa."""
        app = web.Application()
        app.router.add_get("/sympa", self._home)
        app.router.add_get("/sympa/wsdl", self._wsdl)
        app.router.add_post("/sympasoap", self._soap)
        app.middlewares.append(self._record)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.requests.append((request.method, request.path, dict(request.headers)))
        return await handler(request)

    async def _home(self, request: web.Request) -> web.StreamResponse:
        if self.home == "error500":
            return web.Response(status=500, text=APACHE_500, content_type="text/html")
        page = {"ok": home_page(self.version), "not_sympa": NGINX_WELCOME,
                "themed": THEMED_HOME}[self.home]
        return web.Response(text=page, content_type="text/html", charset="UTF-8")

    async def _wsdl(self, request: web.Request) -> web.StreamResponse:
        if self.wsdl == "missing":
            return web.Response(status=404, text="<html><body><h1>Not Found</h1></body></html>",
                                content_type="text/html")
        if self.wsdl == "html":
            return web.Response(text=home_page(self.version), content_type="text/html")
        soap_url = "" if self.wsdl == "no_address" else self.soap_url
        return web.Response(text=wsdl_document(self.url, soap_url), content_type="text/xml")

    async def _soap(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        xml = {"content_type": "text/xml", "charset": "utf-8"}
        if self.soap == "hang":
            await asyncio.sleep(30)  # hung peer
        if self.soap == "html500":
            return web.Response(status=500, text=APACHE_500, content_type="text/html")
        if self.soap == "bad_gateway":
            return web.Response(status=502, text=NGINX_502, content_type="text/html")
        if self.soap == "garbage":
            return web.Response(status=200, text="Status: 200\r\n\r\nok", content_type="text/plain")
        if request.headers.get("SOAPAction") != '"urn:sympasoap#checkCookie"' or \
                not _is_check_cookie(body):
            return web.Response(status=500, **xml, text=soap_fault(
                "Client", "Denied access to method (checkcookie) in class (main)",
                "at /usr/share/perl5/SOAP/Lite.pm line 2864."))
        if self.soap == "server_fault":
            return web.Response(status=500, **xml, text=soap_fault(
                "Server", "Internal error", "Database connection lost"))
        if self.soap == "answer":
            return web.Response(status=200, **xml, text=CHECK_COOKIE_ANSWER)
        return web.Response(status=500, **xml, text=NOT_AUTHENTICATED)

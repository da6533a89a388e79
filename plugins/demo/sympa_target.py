"""A demo Sympa 6.2: WWSympa's home page, its WSDL and its SOAP daemon (aiohttp).

Shapes as Sympa 6.2 documents and serves them:

- ``GET /sympa``: the home page (HTML 200, ``<meta name="generator" content="Sympa …">``,
  ``/static-sympa/`` assets);
- ``GET /sympa/wsdl``: ``text/xml`` WSDL whose ``targetNamespace`` is
  ``<wwsympa_url>/wsdl`` and whose ``<soap:address location=…>`` is the SOAP server;
- ``POST /sympasoap``: without a login, ``checkCookie`` gets SOAP::Lite's Fault
  ``Client`` / ``User not authenticated`` with HTTP 500 — the answer of a living daemon.
  A call it does not recognise gets the "Denied access to method" fault.
"""

from __future__ import annotations

from xml.etree import ElementTree

from aiohttp import web

SYMPA_VERSION = "6.2.72"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

HOME_PAGE = f"""<!DOCTYPE html>
<html lang="fr" xml:lang="fr">
<!-- main.tt2 -->
<head>
<meta charset="UTF-8" />
<meta name="generator" content="Sympa {SYMPA_VERSION}" />
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title> Listes de la coopérative de démonstration - accueil </title>
<link rel="stylesheet" href="/static-sympa/css/style.css" />
</head>
<body>
<main id="content-inner" class="row">
<h2>Bienvenue sur le serveur de listes de diffusion</h2>
<p>Abonnez-vous aux listes de la coopérative : annonces, entraide, bénévoles.</p>
</main>
<footer>Propulsé par Sympa</footer>
</body>
</html>
"""


def wsdl_document(wwsympa_url: str, soap_url: str) -> str:
    """Sympa's ``sympa.wsdl`` filled in, reduced to the ``checkCookie`` operation."""
    return f"""<?xml version="1.0"?>
<definitions name="Sympa"
	xmlns:xsd="http://www.w3.org/2001/XMLSchema"
	xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
	targetNamespace="{wwsympa_url}/wsdl"
	xmlns:tns="{wwsympa_url}/wsdl"
	xmlns="http://schemas.xmlsoap.org/wsdl/">
<message name="checkCookieRequest"></message>
<message name="checkCookieResponse"><part name="email" type="xsd:string"/></message>
<portType name="SympaPort">
	<operation name="checkCookie">
		<input message="tns:checkCookieRequest" />
		<output message="tns:checkCookieResponse" />
	</operation>
</portType>
<binding name="SOAP" type="tns:SympaPort">
<soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>
	<operation name="checkCookie">
		<soap:operation soapAction="urn:sympasoap#checkCookie"/>
		<input><soap:body use="encoded" namespace="urn:sympasoap"
			encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></input>
		<output><soap:body use="encoded" namespace="urn:sympasoap"
			encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></output>
	</operation>
</binding>
<service name="SympaSOAP">
	<port name="SympaPort" binding="tns:SOAP">
		<soap:address location="{soap_url}"/>
	</port>
</service>
</definitions>
"""


def soap_fault(code: str, string: str, detail: str) -> str:
    """A SOAP 1.1 Fault as SOAP::Lite serialises ``die SOAP::Fault->faultcode(...)``."""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soap:Envelope soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" '
            f'xmlns:soap="{SOAP_ENV}" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soap:Body><soap:Fault><faultcode>soap:{code}</faultcode>'
            f'<faultstring>{string}</faultstring><detail>{detail}</detail>'
            '</soap:Fault></soap:Body></soap:Envelope>')


def _is_check_cookie(body: bytes) -> bool:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return False
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False
    return (root.tag == f"{{{SOAP_ENV}}}Envelope"
            and root.find(f"{{{SOAP_ENV}}}Body/{{urn:sympasoap}}checkCookie") is not None)


def sympa_app() -> web.Application:
    """WWSympa at ``/sympa``, its WSDL at ``/sympa/wsdl``, SOAP at ``/sympasoap``."""
    async def home(_request: web.Request) -> web.Response:
        return web.Response(text=HOME_PAGE, content_type="text/html", charset="UTF-8")

    async def wsdl(request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        return web.Response(text=wsdl_document(f"{base}/sympa", f"{base}/sympasoap"),
                            content_type="text/xml")

    async def soap(request: web.Request) -> web.Response:
        body = await request.content.read(64 * 1024)
        xml = {"status": 500, "content_type": "text/xml", "charset": "utf-8"}
        if (request.headers.get("SOAPAction") == '"urn:sympasoap#checkCookie"'
                and _is_check_cookie(body)):
            return web.Response(**xml, text=soap_fault(
                "Client", "User not authenticated", "You should login first"))
        return web.Response(**xml, text=soap_fault(
            "Client", "Denied access to method in class (main)",
            "at /usr/share/perl5/SOAP/Lite.pm line 2864."))

    app = web.Application()
    app.router.add_get("/sympa", home)
    app.router.add_get("/sympa/wsdl", wsdl)
    app.router.add_post("/sympasoap", soap)
    return app

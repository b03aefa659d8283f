"""The dashboard's words in English and French: one catalog per language, the same keys.

Add a string: put its key in both ``EN`` and ``FR`` (a test checks they hold the same keys
and the same ``{placeholders}``), then write ``{{ t("my.key", name=value) }}`` in a template or
``translate(lang, "my.key")`` in Python. The language is the ``lang`` cookie (set by
``POST /language``), else the browser's Accept-Language, else English.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from litestar import Request

Language = Literal["en", "fr"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "fr")
DEFAULT_LANGUAGE: Final[Language] = "en"
LANG_COOKIE: Final = "lang"
LANGUAGE_NAMES: Final[dict[Language, str]] = {"en": "English", "fr": "Français"}

EN: Final[dict[str, str]] = {
    "app.name": "WazyBot",
    "skip": "Skip to the content",
    "nav.label": "Main",
    "nav.overview": "Overview",
    "nav.conversations": "Conversations",
    "nav.orders": "Orders",
    "nav.errors": "Errors",
    "nav.phone": "Phone",
    "language.label": "Language",
    "language.switch": "Change",
    "signed_in_as": "Signed in to {business}",
    "signed_in_as_agent": "{agent}, signed in to {business}",
    "sign_out": "Sign out",
    "sign_in.title": "Sign in",
    "sign_in.intro": "Sign in with an API token (from `wazybot tokens create`).",
    "sign_in.token": "API token",
    "sign_in.submit": "Sign in",
    "sign_in.refused": "This token opens nothing: it is unknown or was revoked.",
    "sign_in.link_refused": "This sign-in link is unknown, already used or expired."
    " Ask for a new one.",
    "error.title": "Something went wrong",
    "error.forbidden.title": "Request refused",
    "error.forbidden": "This form is out of date or did not come from this dashboard:"
    " nothing was changed. Go back, reload the page and try again.",
    "error.not_found.title": "Not found",
    "error.not_found": "There is nothing here for this business.",
    "error.starting.title": "Starting",
    "error.starting": "The server is starting; try again in a few seconds.",
    "error.back": "Back to the overview",
    "placeholder.title": "Coming soon",
    "placeholder.body": "This page is not ready yet.",
}

FR: Final[dict[str, str]] = {
    "app.name": "WazyBot",
    "skip": "Aller au contenu",
    "nav.label": "Principal",
    "nav.overview": "Vue d'ensemble",
    "nav.conversations": "Conversations",
    "nav.orders": "Commandes",
    "nav.errors": "Erreurs",
    "nav.phone": "Téléphone",
    "language.label": "Langue",
    "language.switch": "Changer",
    "signed_in_as": "Connecté à {business}",
    "signed_in_as_agent": "{agent}, connecté à {business}",
    "sign_out": "Se déconnecter",
    "sign_in.title": "Connexion",
    "sign_in.intro": "Connectez-vous avec un jeton d'API (créé par `wazybot tokens create`).",
    "sign_in.token": "Jeton d'API",
    "sign_in.submit": "Se connecter",
    "sign_in.refused": "Ce jeton n'ouvre rien : il est inconnu ou a été révoqué.",
    "sign_in.link_refused": "Ce lien de connexion est inconnu, déjà utilisé ou expiré."
    " Demandez-en un nouveau.",
    "error.title": "Un problème est survenu",
    "error.forbidden.title": "Requête refusée",
    "error.forbidden": "Ce formulaire est périmé ou ne vient pas de ce tableau de bord :"
    " rien n'a été modifié. Revenez en arrière, rechargez la page et réessayez.",
    "error.not_found.title": "Introuvable",
    "error.not_found": "Il n'y a rien ici pour cette entreprise.",
    "error.starting.title": "Démarrage",
    "error.starting": "Le serveur démarre ; réessayez dans quelques secondes.",
    "error.back": "Retour à la vue d'ensemble",
    "placeholder.title": "Bientôt",
    "placeholder.body": "Cette page n'est pas encore prête.",
}

CATALOGS: Final[dict[Language, dict[str, str]]] = {"en": EN, "fr": FR}


def translate(lang: Language, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` (English when missing there; the key itself when
    missing everywhere, so a forgotten string shows rather than breaks the page)."""
    text = CATALOGS[lang].get(key) or EN.get(key) or key
    return text.format(**values) if values else text


def supported(raw: str | None) -> Language | None:
    value = (raw or "").strip().lower()
    return value if value in LANGUAGES else None


def from_accept_language(header: str) -> Language | None:
    """The supported language the browser prefers most (q-values honoured)."""
    ranked: list[tuple[float, int, Language]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language = supported(tag.split("-")[0])
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def language_of(request: Request[Any, Any, Any]) -> Language:
    return (
        supported(request.cookies.get(LANG_COOKIE))
        or from_accept_language(request.headers.get("accept-language", ""))
        or DEFAULT_LANGUAGE
    )

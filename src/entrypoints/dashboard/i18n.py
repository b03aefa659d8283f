"""The dashboard's words in English and French: one catalog per language, the same keys.

Add a string: put its key in both ``EN`` and ``FR`` (a test checks they hold the same keys
and the same ``{placeholders}``), then write ``{{ t("my.key", name=value) }}`` in a template or
``translate(lang, "my.key")`` in Python. The language is the ``lang`` cookie (set by
``POST /language``), else the browser's Accept-Language, else English.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from litestar import Request

from application.connection_status import SENTENCES, sentence

Language = Literal["en", "fr"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "fr")
DEFAULT_LANGUAGE: Final[Language] = "en"
LANG_COOKIE: Final = "lang"
LANGUAGE_NAMES: Final[dict[Language, str]] = {"en": "English", "fr": "Français"}

EN: Final[dict[str, str]] = {
    "app.name": "WazyBot",
    "punct.colon": ": ",
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
    "sign_in.intro": "Sign in with an API token (made by the command wazybot tokens create).",
    "sign_in.token": "API token",
    "sign_in.submit": "Sign in",
    "sign_in.refused": "This token opens nothing: it is unknown or was revoked.",
    "sign_in.link_refused": (
        "This sign-in link is unknown, already used or expired. Ask for a new one."
    ),
    "error.title": "Something went wrong",
    "error.forbidden.title": "Request refused",
    "error.forbidden": (
        "This form is out of date or did not come from this dashboard: nothing was changed. Go "
        "back, reload the page and try again."
    ),
    "error.not_found.title": "Not found",
    "error.not_found": "There is nothing here for this business.",
    "error.starting.title": "Starting",
    "error.starting": "The server is starting; try again in a few seconds.",
    "error.back": "Back to the overview",
    "placeholder.title": "Coming soon",
    "placeholder.body": "This page is not ready yet.",
    "range.label": "Period",
    "range.24h": "24 hours",
    "range.7d": "7 days",
    "range.30d": "30 days",
    "status.title": "Connection",
    "status.checking": "Meta has not answered yet: reload the page in a few seconds.",
    "status.connected": "Connected",
    "status.disconnected": "Not connected",
    "status.mode": "Mode:",
    "status.mode.sandbox": "Sandbox (simulated number)",
    "status.mode.live": "Live (Meta)",
    "status.check.access_token": "Access token",
    "status.check.phone_number": "Phone numbers",
    "status.check.webhook_subscription": "Webhook subscription",
    "status.state.ok": "OK",
    "status.state.failed": "Failed",
    "status.state.unknown": "Unknown",
    "status.check.line": "{check}: {words}",
    # What each check found: the API's own sentences (application/connection_status.py).
    **{f"status.reason.{key}": text for key, text in SENTENCES.items()},
    "metrics.title": "Last {range}",
    "metric.messages_received": "Messages received",
    "metric.ai_responses": "AI responses",
    "metric.response_rate": "Response rate",
    "metric.first_response": "Average first response",
    "metric.delivery_rate": "Delivery rate",
    "metric.read_rate": "Read rate",
    "metric.handoffs": "Handoffs to a person",
    "metric.orders": "Orders",
    "metric.revenue": "Revenue",
    "change.none": "Nothing to compare with",
    "change.points": "{points} pts",
    "change.vs_previous": "{change} vs the previous period",
    "chart.title": "Messages over time",
    "chart.table": "The same figures as a table",
    "chart.time": "Time (UTC)",
    "chart.received": "Received",
    "chart.ai": "AI responses",
    "chart.agent": "Agent replies",
    "status.bot": "Bot",
    "status.escalated": "Escalated",
    "status.closed": "Closed",
    "conversations.search": "Search (name, number, @username)",
    "conversations.status": "Status",
    "conversations.any_status": "Any status",
    "conversations.filter": "Show",
    "conversations.unread": "{count} unread",
    "conversations.none": "No conversation matches.",
    "pages.label": "Pages",
    "pages.newest": "Newest",
    "pages.older": "Older",
    "pages.older_messages": "Older messages",
    "conversation.status": "Status",
    "conversation.assignee": "handled by {name}",
    "conversation.phone": "Phone",
    "conversation.window": "Reply window",
    "conversation.window_open": "open until {time} (UTC)",
    "conversation.window_closed": "closed: only approved templates can be sent",
    "conversation.reason": "Reason",
    "conversation.take_over": "Take over",
    "conversation.hand_back": "Hand back to the bot",
    "conversation.timeline": "Messages",
    "conversation.no_text": "({type} message)",
    "conversation.empty": "No messages yet.",
    "sender.customer": "Customer",
    "sender.ai": "AI",
    "sender.agent": "Agent",
    "sender.system": "System",
    "delivery.queued": "queued",
    "delivery.accepted": "accepted",
    "delivery.sent": "sent",
    "delivery.delivered": "delivered",
    "delivery.read": "read",
    "delivery.failed": "failed",
    "delivery.error_code": "WhatsApp error {code}",
    "reply.title": "Reply",
    "reply.text": "Message",
    "reply.send": "Send",
    "reply.window_closed": (
        "The customer has not written for 24 hours: WhatsApp only accepts an approved template "
        "until they write again."
    ),
    "reply.template": "Approved template",
    "reply.parameters": "Template variables",
    "reply.parameters_help": "One value per line, in order ({{1}}, {{2}}...).",
    "reply.send_template": "Send the template",
    "reply.no_templates": "This business has no approved template (run wazybot templates sync).",
    "notice.reply_queued": "Your reply is queued; its ticks follow below.",
    "notice.taken_over": "You took the conversation over: the bot no longer answers.",
    "notice.handed_back": "The conversation is back with the bot.",
    "problem.bad_filter": "That search or status cannot be used; showing every conversation.",
    "problem.empty_reply": "Write a message before sending.",
    "problem.window_closed": "The 24-hour window is closed: send an approved template instead.",
    "problem.invalid_message": "WhatsApp would refuse this message (too long or malformed).",
    "problem.already_sent": (
        "This form was already sent with another message: reload the page to write a new one."
    ),
    "problem.not_sendable": "Messages cannot be sent to this conversation (e.g. a group).",
    "problem.template_refused": "This template cannot be sent as filled: check its variables.",
    "problem.already_escalated": "Someone already took this conversation over.",
    "problem.not_escalated": "The bot already handles this conversation.",
    "problem.busy": "The conversation changed meanwhile; try again.",
    # Orders, errors, live updates, the sandbox phone.
    "pager.older": "Older",
    "pager.newest": "Newest",
    "orders.filter": "Filter the orders",
    "orders.status": "Status",
    "orders.all": "All",
    "orders.show": "Show",
    "orders.list": "Orders, newest placed first",
    "orders.none": "No orders here yet.",
    "orders.bad_status": "That status is not one of the list: choose one again.",
    "orders.bad_cursor": "That page link is out of date: start again from the newest orders.",
    "orders.customer": "Customer",
    "orders.conversation": "Open the conversation",
    "orders.items": "Items",
    "orders.total": "Total",
    "orders.placed": "Placed",
    "orders.confirmed": "Confirmed",
    "orders.updated": "Last change",
    "order_status.pending": "Pending",
    "order_status.confirmed": "Confirmed",
    "order_status.cancelled": "Cancelled",
    "order_status.shipped": "Shipped",
    "order_status.delivered": "Delivered",
    "errors.intro": "Failed sends, messages that ran out of attempts, problems Meta reported and"
    " events set aside, newest first.",
    "errors.list": "Errors, newest first",
    "errors.none": "No errors: everything went through.",
    "errors.bad_cursor": "That page link is out of date: start again from the newest errors.",
    "errors.when": "When",
    "errors.conversation": "Conversation",
    "errors.open_conversation": "Open the conversation",
    "errors.resolved": "Resolved",
    "errors.retry": "Retry",
    "error_kind.send_failed": "Send failed",
    "error_kind.dead_letter": "Out of attempts",
    "error_kind.webhook_problem": "Problem reported by Meta",
    "error_kind.unreadable_change": "Unreadable webhook change",
    "error_kind.projection_parked": "Event set aside",
    "notice.retry_queued": "The message is queued again: it will be sent in a moment.",
    "problem.retry_not_found": "This business has no failed message with that id: nothing was"
    " retried.",
    "problem.retry_not_failed": "This message cannot be retried: it is already queued, being sent"
    " or sent.",
    "phone.title": "Customer phone (sandbox)",
    "phone.intro": "Play a customer: what you write here reaches the assistant as a real WhatsApp"
    " message would.",
    "phone.chat": "Chat with the business",
    "phone.empty": "No messages yet: write the first one.",
    "phone.from_customer": "You",
    "phone.from_business": "The business",
    "phone.template": "Template",
    "phone.open_list": "Open the list",
    "phone.message": "Message",
    "phone.send": "Send",
    "phone.late": (
        "Dated 25 hours ago (a late delivery: for a customer with no newer message, the"
        " 24-hour window is then closed, to try templates)"
    ),
    "phone.customer": "Who you play",
    "phone.name": "Name",
    "phone.number": "Phone number",
    "phone.number_help": "Digits only, with the country code (6 to 15 digits).",
    "phone.switch": "Use this customer",
    "phone.bad_number": "The phone number must be 6 to 15 digits: the default customer is shown.",
    "phone.bad_name": "The name must be 1 to 60 characters: the default customer is shown.",
    "phone.catalog": "Order from the catalog",
    "phone.no_products": "The catalog has no products.",
    "phone.product": "Product",
    "phone.price": "Price",
    "phone.quantity": "Quantity",
    "phone.out_of_stock": "out of stock",
    "phone.order": "Send the order",
    "phone.refused": "The phone did not send it:",
}

FR: Final[dict[str, str]] = {
    "app.name": "WazyBot",
    "punct.colon": " : ",  # French puts a space before the colon
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
    "sign_in.intro": (
        "Connectez-vous avec un jeton d'API (créé par la commande wazybot tokens create)."
    ),
    "sign_in.token": "Jeton d'API",
    "sign_in.submit": "Se connecter",
    "sign_in.refused": "Ce jeton n'ouvre rien : il est inconnu ou a été révoqué.",
    "sign_in.link_refused": (
        "Ce lien de connexion est inconnu, déjà utilisé ou expiré. Demandez-en un nouveau."
    ),
    "error.title": "Un problème est survenu",
    "error.forbidden.title": "Requête refusée",
    "error.forbidden": (
        "Ce formulaire est périmé ou ne vient pas de ce tableau de bord : rien n'a été "
        "modifié. Revenez en arrière, rechargez la page et réessayez."
    ),
    "error.not_found.title": "Introuvable",
    "error.not_found": "Il n'y a rien ici pour cette entreprise.",
    "error.starting.title": "Démarrage",
    "error.starting": "Le serveur démarre ; réessayez dans quelques secondes.",
    "error.back": "Retour à la vue d'ensemble",
    "placeholder.title": "Bientôt",
    "placeholder.body": "Cette page n'est pas encore prête.",
    "range.label": "Période",
    "range.24h": "24 heures",
    "range.7d": "7 jours",
    "range.30d": "30 jours",
    "status.title": "Connexion",
    "status.checking": "Meta n'a pas encore répondu : rechargez la page dans quelques secondes.",
    "status.connected": "Connecté",
    "status.disconnected": "Non connecté",
    "status.mode": "Mode :",
    "status.mode.sandbox": "Bac à sable (numéro simulé)",
    "status.mode.live": "En production (Meta)",
    "status.check.access_token": "Jeton d'accès",
    "status.check.phone_number": "Numéros de téléphone",
    "status.check.webhook_subscription": "Abonnement aux webhooks",
    "status.state.ok": "OK",
    "status.state.failed": "En échec",
    "status.state.unknown": "Inconnu",
    "status.check.line": "{check} : {words}",
    "status.reason.no_token": (
        "Aucun jeton d'accès WhatsApp n'est enregistré pour cette entreprise : enregistrez-en un "
        "avec `wazybot business update {business} --access-token-stdin` (ou définissez "
        "WHATSAPP_ACCESS_TOKEN pour l'entreprise par défaut)."
    ),
    "status.reason.token_unreadable": (
        "Le jeton d'accès enregistré ne peut pas être lu ({problem}). Corrigez "
        "WAZYBOT_SECRET_KEY, ou enregistrez-en un avec `wazybot business update {business} "
        "--access-token-stdin` (ou définissez WHATSAPP_ACCESS_TOKEN pour l'entreprise par "
        "défaut)."
    ),
    "status.reason.needs_token": "Non vérifié : il faut d'abord un jeton d'accès.",
    "status.reason.needs_working_token": "Non vérifié : le jeton d'accès doit d'abord fonctionner.",
    "status.reason.token_refused": (
        "Meta a refusé le jeton d'accès : il est invalide ou a expiré. Créez-en un nouveau (le "
        "jeton d'un utilisateur système n'expire pas) et enregistrez-en un avec `wazybot "
        "business update {business} --access-token-stdin` (ou définissez WHATSAPP_ACCESS_TOKEN "
        "pour l'entreprise par défaut)."
    ),
    "status.reason.token_permission_missing": (
        "Il manque une autorisation au jeton d'accès : il lui faut whatsapp_business_messaging "
        "et whatsapp_business_management. Donnez-les à l'utilisateur système ou à l'application "
        "du jeton, puis enregistrez-en un avec `wazybot business update {business} "
        "--access-token-stdin` (ou définissez WHATSAPP_ACCESS_TOKEN pour l'entreprise par "
        "défaut)."
    ),
    "status.reason.token_accepted": "Meta accepte le jeton d'accès.",
    "status.reason.graph_unreachable": (
        "L'API Graph de Meta n'a pas répondu (erreur réseau ou délai dépassé) : vérifiez l'accès "
        "à Internet de ce serveur et WHATSAPP_GRAPH_URL, puis réessayez."
    ),
    "status.reason.graph_error": (
        "Meta a répondu par une erreur (code {code}) : {message}. Réessayez dans quelques minutes."
    ),
    "status.reason.graph_error.code": (
        "Meta a répondu par une erreur (code {code}). Réessayez dans quelques minutes."
    ),
    "status.reason.graph_error.message": (
        "Meta a répondu par une erreur : {message}. Réessayez dans quelques minutes."
    ),
    "status.reason.graph_error.bare": (
        "Meta a répondu par une erreur. Réessayez dans quelques minutes."
    ),
    "status.reason.numbers_unknown": (
        "Meta ne connaît pas l'identifiant de numéro {numbers}, ou ce jeton d'accès ne peut pas "
        "l'utiliser. Copiez l'identifiant depuis WhatsApp Manager (la page API Setup l'affiche) "
        "et vérifiez que le jeton appartient au même compte WhatsApp Business."
    ),
    "status.reason.numbers_known": "Meta connaît {numbers}.",
    "status.reason.numbers_known.item": "{number}",
    "status.reason.numbers_known.item_named": "{number} ({name})",
    "status.reason.numbers_known.item_rated": "{number}, qualité {quality}",
    "status.reason.numbers_known.item_named_rated": "{number} ({name}), qualité {quality}",
    "status.reason.numbers_known.separator": " ; ",
    "status.reason.no_account_id": (
        "Non vérifié : cette entreprise n'a pas d'identifiant de compte WhatsApp Business. Pour "
        "vérifier que les messages des clients arrivent à WazyBot, définissez "
        "WHATSAPP_BUSINESS_ACCOUNT_ID (entreprise par défaut) ou lancez `wazybot business update "
        "{business} --account-id ID`."
    ),
    "status.reason.subscribed": (
        "{apps} applications reçoivent les webhooks du compte WhatsApp Business {account}."
    ),
    "status.reason.subscribed.one": (
        "1 application reçoit les webhooks du compte WhatsApp Business {account}."
    ),
    "status.reason.not_subscribed": (
        "Aucune application ne reçoit les webhooks du compte WhatsApp Business {account} : les "
        "messages des clients n'arrivent jamais à WazyBot. Abonnez votre application : dans "
        "l'App Dashboard de Meta, WhatsApp > Configuration, ou par POST "
        "/{account}/subscribed_apps avec le jeton d'accès."
    ),
    "status.reason.account_unknown": (
        "Meta ne connaît pas le compte WhatsApp Business {account}, ou ce jeton d'accès ne peut "
        "pas l'utiliser. Vérifiez l'identifiant dans WhatsApp Manager, puis définissez "
        "WHATSAPP_BUSINESS_ACCOUNT_ID (entreprise par défaut) ou lancez `wazybot business update "
        "{business} --account-id ID`."
    ),
    "status.reason.subscription_permission_missing": (
        "Le jeton d'accès ne peut pas lire les abonnements aux webhooks de ce compte : il lui "
        "faut l'autorisation whatsapp_business_management."
    ),
    "status.reason.account_token_refused": (
        "Meta a refusé le jeton d'accès pour ce compte : il est invalide ou a expiré."
    ),
    "status.reason.token_refused.sandbox": (
        "Le simulateur intégré a refusé le jeton d'accès : il est invalide ou a expiré. Créez-en "
        "un nouveau (le jeton d'un utilisateur système n'expire pas) et enregistrez-en un avec "
        "`wazybot business update {business} --access-token-stdin` (ou définissez "
        "WHATSAPP_ACCESS_TOKEN pour l'entreprise par défaut)."
    ),
    "status.reason.token_accepted.sandbox": "Le simulateur intégré accepte le jeton d'accès.",
    "status.reason.graph_unreachable.sandbox": (
        "Le simulateur intégré n'a pas répondu (erreur réseau ou délai dépassé) : vérifiez "
        "l'accès à Internet de ce serveur et WHATSAPP_GRAPH_URL, puis réessayez."
    ),
    "status.reason.graph_error.sandbox": (
        "Le simulateur intégré a répondu par une erreur (code {code}) : {message}. Réessayez "
        "dans quelques minutes."
    ),
    "status.reason.graph_error.code.sandbox": (
        "Le simulateur intégré a répondu par une erreur (code {code}). Réessayez dans quelques "
        "minutes."
    ),
    "status.reason.graph_error.message.sandbox": (
        "Le simulateur intégré a répondu par une erreur : {message}. Réessayez dans quelques "
        "minutes."
    ),
    "status.reason.graph_error.bare.sandbox": (
        "Le simulateur intégré a répondu par une erreur. Réessayez dans quelques minutes."
    ),
    "status.reason.numbers_unknown.sandbox": (
        "Le simulateur intégré ne connaît pas l'identifiant de numéro {numbers}, ou ce jeton "
        "d'accès ne peut pas l'utiliser. Copiez l'identifiant depuis WhatsApp Manager (la page "
        "API Setup l'affiche) et vérifiez que le jeton appartient au même compte WhatsApp "
        "Business."
    ),
    "status.reason.numbers_known.sandbox": "Le simulateur intégré connaît {numbers}.",
    "status.reason.not_subscribed.sandbox": (
        "Aucune application ne reçoit les webhooks du compte WhatsApp Business {account} : les "
        "messages des clients n'arrivent jamais à WazyBot. Abonnez votre application : dans "
        "l'App Dashboard du simulateur intégré, WhatsApp > Configuration, ou par POST "
        "/{account}/subscribed_apps avec le jeton d'accès."
    ),
    "status.reason.account_unknown.sandbox": (
        "Le simulateur intégré ne connaît pas le compte WhatsApp Business {account}, ou ce jeton "
        "d'accès ne peut pas l'utiliser. Vérifiez l'identifiant dans WhatsApp Manager, puis "
        "définissez WHATSAPP_BUSINESS_ACCOUNT_ID (entreprise par défaut) ou lancez `wazybot "
        "business update {business} --account-id ID`."
    ),
    "status.reason.account_token_refused.sandbox": (
        "Le simulateur intégré a refusé le jeton d'accès pour ce compte : il est invalide ou a "
        "expiré."
    ),
    "metrics.title": "Dernières {range}",
    "metric.messages_received": "Messages reçus",
    "metric.ai_responses": "Réponses de l'IA",
    "metric.response_rate": "Taux de réponse",
    "metric.first_response": "Première réponse (moyenne)",
    "metric.delivery_rate": "Taux de distribution",
    "metric.read_rate": "Taux de lecture",
    "metric.handoffs": "Passages à un humain",
    "metric.orders": "Commandes",
    "metric.revenue": "Chiffre d'affaires",
    "change.none": "Rien à comparer",
    "change.points": "{points} pts",
    "change.vs_previous": "{change} par rapport à la période précédente",
    "chart.title": "Messages dans le temps",
    "chart.table": "Les mêmes chiffres en tableau",
    "chart.time": "Heure (UTC)",
    "chart.received": "Reçus",
    "chart.ai": "Réponses de l'IA",
    "chart.agent": "Réponses des agents",
    "status.bot": "Bot",
    "status.escalated": "Transférée",
    "status.closed": "Fermée",
    "conversations.search": "Rechercher (nom, numéro, @pseudo)",
    "conversations.status": "Statut",
    "conversations.any_status": "Tous les statuts",
    "conversations.filter": "Afficher",
    "conversations.unread": "{count} non lu(s)",
    "conversations.none": "Aucune conversation ne correspond.",
    "pages.label": "Pages",
    "pages.newest": "Les plus récentes",
    "pages.older": "Plus anciennes",
    "pages.older_messages": "Messages plus anciens",
    "conversation.status": "Statut",
    "conversation.assignee": "suivie par {name}",
    "conversation.phone": "Téléphone",
    "conversation.window": "Fenêtre de réponse",
    "conversation.window_open": "ouverte jusqu'à {time} (UTC)",
    "conversation.window_closed": "fermée : seuls les modèles approuvés peuvent être envoyés",
    "conversation.reason": "Raison",
    "conversation.take_over": "Prendre la main",
    "conversation.hand_back": "Rendre la main au bot",
    "conversation.timeline": "Messages",
    "conversation.no_text": "(message {type})",
    "conversation.empty": "Aucun message pour l'instant.",
    "sender.customer": "Client",
    "sender.ai": "IA",
    "sender.agent": "Agent",
    "sender.system": "Système",
    "delivery.queued": "en file",
    "delivery.accepted": "accepté",
    "delivery.sent": "envoyé",
    "delivery.delivered": "remis",
    "delivery.read": "lu",
    "delivery.failed": "échec",
    "delivery.error_code": "erreur WhatsApp {code}",
    "reply.title": "Répondre",
    "reply.text": "Message",
    "reply.send": "Envoyer",
    "reply.window_closed": (
        "Le client n'a pas écrit depuis 24 heures : WhatsApp n'accepte qu'un modèle approuvé "
        "jusqu'à ce qu'il écrive de nouveau."
    ),
    "reply.template": "Modèle approuvé",
    "reply.parameters": "Variables du modèle",
    "reply.parameters_help": "Une valeur par ligne, dans l'ordre ({{1}}, {{2}}...).",
    "reply.send_template": "Envoyer le modèle",
    "reply.no_templates": (
        "Cette entreprise n'a aucun modèle approuvé (lancez wazybot templates sync)."
    ),
    "notice.reply_queued": "Votre réponse est en file ; ses coches suivent ci-dessous.",
    "notice.taken_over": "Vous avez pris la main : le bot ne répond plus.",
    "notice.handed_back": "La conversation est rendue au bot.",
    "problem.bad_filter": (
        "Cette recherche ou ce statut est inutilisable ; toutes les conversations sont affichées."
    ),
    "problem.empty_reply": "Écrivez un message avant d'envoyer.",
    "problem.window_closed": (
        "La fenêtre de 24 heures est fermée : envoyez plutôt un modèle approuvé."
    ),
    "problem.invalid_message": "WhatsApp refuserait ce message (trop long ou mal formé).",
    "problem.already_sent": (
        "Ce formulaire a déjà été envoyé avec un autre message : rechargez la page pour en"
        " écrire un nouveau."
    ),
    "problem.not_sendable": (
        "Impossible d'envoyer des messages à cette conversation (par ex. un groupe)."
    ),
    "problem.template_refused": "Ce modèle ne peut pas être envoyé ainsi : vérifiez ses variables.",
    "problem.already_escalated": "Quelqu'un a déjà pris la main sur cette conversation.",
    "problem.not_escalated": "Le bot gère déjà cette conversation.",
    "problem.busy": "La conversation a changé entre-temps ; réessayez.",
    # Orders, errors, live updates, the sandbox phone.
    "pager.older": "Plus anciennes",
    "pager.newest": "Les plus récentes",
    "orders.filter": "Filtrer les commandes",
    "orders.status": "Statut",
    "orders.all": "Tous",
    "orders.show": "Afficher",
    "orders.list": "Commandes, les plus récentes d'abord",
    "orders.none": "Aucune commande pour l'instant.",
    "orders.bad_status": "Ce statut n'est pas dans la liste : choisissez-en un autre.",
    "orders.bad_cursor": "Ce lien de page est périmé : repartez des commandes les plus récentes.",
    "orders.customer": "Client",
    "orders.conversation": "Ouvrir la conversation",
    "orders.items": "Articles",
    "orders.total": "Total",
    "orders.placed": "Passée le",
    "orders.confirmed": "Confirmée le",
    "orders.updated": "Dernier changement",
    "order_status.pending": "En attente",
    "order_status.confirmed": "Confirmée",
    "order_status.cancelled": "Annulée",
    "order_status.shipped": "Expédiée",
    "order_status.delivered": "Livrée",
    "errors.intro": "Envois échoués, messages à court de tentatives, problèmes signalés par Meta"
    " et événements mis de côté, les plus récents d'abord.",
    "errors.list": "Erreurs, les plus récentes d'abord",
    "errors.none": "Aucune erreur : tout est passé.",
    "errors.bad_cursor": "Ce lien de page est périmé : repartez des erreurs les plus récentes.",
    "errors.when": "Quand",
    "errors.conversation": "Conversation",
    "errors.open_conversation": "Ouvrir la conversation",
    "errors.resolved": "Résolue le",
    "errors.retry": "Réessayer",
    "error_kind.send_failed": "Envoi échoué",
    "error_kind.dead_letter": "Tentatives épuisées",
    "error_kind.webhook_problem": "Problème signalé par Meta",
    "error_kind.unreadable_change": "Changement de webhook illisible",
    "error_kind.projection_parked": "Événement mis de côté",
    "notice.retry_queued": "Le message est de nouveau en file : il partira dans un instant.",
    "problem.retry_not_found": "Cette entreprise n'a aucun message échoué avec cet identifiant :"
    " rien n'a été relancé.",
    "problem.retry_not_failed": "Ce message ne peut pas être relancé : il est déjà en file, en"
    " cours d'envoi ou envoyé.",
    "phone.title": "Téléphone client (sandbox)",
    "phone.intro": "Jouez un client : ce que vous écrivez ici arrive à l'assistant comme un vrai"
    " message WhatsApp.",
    "phone.chat": "Discussion avec l'entreprise",
    "phone.empty": "Aucun message : écrivez le premier.",
    "phone.from_customer": "Vous",
    "phone.from_business": "L'entreprise",
    "phone.template": "Modèle",
    "phone.open_list": "Ouvrir la liste",
    "phone.message": "Message",
    "phone.send": "Envoyer",
    "phone.late": (
        "Daté d'il y a 25 heures (une remise tardive : pour un client sans message plus"
        " récent, la fenêtre de 24 heures est alors fermée, pour essayer les modèles)"
    ),
    "phone.customer": "Le client que vous jouez",
    "phone.name": "Nom",
    "phone.number": "Numéro de téléphone",
    "phone.number_help": "Chiffres seulement, avec l'indicatif du pays (6 à 15 chiffres).",
    "phone.switch": "Utiliser ce client",
    "phone.bad_number": "Le numéro doit compter 6 à 15 chiffres : le client par défaut est"
    " affiché.",
    "phone.bad_name": "Le nom doit compter 1 à 60 caractères : le client par défaut est affiché.",
    "phone.catalog": "Commander dans le catalogue",
    "phone.no_products": "Le catalogue n'a aucun produit.",
    "phone.product": "Produit",
    "phone.price": "Prix",
    "phone.quantity": "Quantité",
    "phone.out_of_stock": "en rupture",
    "phone.order": "Envoyer la commande",
    "phone.refused": "Le téléphone ne l'a pas envoyé :",
}

CATALOGS: Final[dict[Language, dict[str, str]]] = {"en": EN, "fr": FR}


def translate(lang: Language, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` (English when missing there; the key itself when
    missing everywhere, so a forgotten string shows rather than breaks the page)."""
    text = CATALOGS[lang].get(key) or EN.get(key) or key
    return text.format(**values) if values else text


_REASON: Final = "status.reason."
_STATUS_WORDS: Final[dict[Language, dict[str, str]]] = {
    lang: {k.removeprefix(_REASON): v for k, v in catalog.items() if k.startswith(_REASON)}
    for lang, catalog in CATALOGS.items()
}


def status_words(lang: Language, mode: str, check: Any) -> str:
    """What a connection check found, in ``lang``: its ``reason`` and ``facts`` in the
    catalog's ``status.reason.*`` words (the simulator's in sandbox mode), so a French page
    never shows the API's English ``detail``; that detail when the catalog has no words for
    the reason (a result from before reasons existed, or a reason newer than the catalog)."""
    reason = getattr(check, "reason", None)
    facts = getattr(check, "facts", None)
    if isinstance(reason, str) and reason and isinstance(facts, dict):
        words = sentence(reason, facts, _STATUS_WORDS[lang], sandbox=mode == "sandbox")
        if words is not None:
            return words
    return str(getattr(check, "detail", "") or "")


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

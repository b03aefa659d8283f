/* The sandbox phone's chat is re-fetched (live updates, every 5 s) only while nobody is
   using it: an open list or a focused button would be lost by the swap, and the next
   re-fetch catches up. A listener, not an hx-trigger filter: the page's
   Content-Security-Policy allows no eval. */
document.addEventListener("htmx:beforeRequest", function (event) {
  var chat = event.detail.elt;
  if (!chat || chat.id !== "phone-chat") {
    return;
  }
  if (chat.contains(document.activeElement) || chat.querySelector("details[open]")) {
    event.preventDefault();
  }
});

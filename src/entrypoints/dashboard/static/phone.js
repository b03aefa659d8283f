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

/* The newest bubble stays in sight: at load, and after a re-fetch when the person had not
   scrolled up to read older ones. */
(function () {
  var following = true;
  function chat() { return document.getElementById("phone-chat"); }
  function toNewest() {
    var box = chat();
    if (box) { box.scrollTop = box.scrollHeight; }
  }
  document.addEventListener("DOMContentLoaded", toNewest);
  document.addEventListener("htmx:beforeSwap", function (event) {
    var box = chat();
    if (box && event.detail.target === box) {
      following = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (following && event.detail.elt && event.detail.elt.id === "phone-chat") { toNewest(); }
  });
})();

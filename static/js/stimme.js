/* Stimme's own script, on top of htmx: after a swap it reads out what changed and puts
 * focus where the person expects it (issue 9). The words come from the server: the
 * swapped element's data-announce (translated when it was rendered), or, when a swap
 * removes its target (a handled item in the review queue), the data-announce of the
 * button that sent the form. One polite live region in base.html, #announcer, says it. */
(function () {
  "use strict";

  const FOCUSABLE =
    "button:not([disabled]), a[href], input:not([type=hidden]):not([disabled]), " +
    "select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])";
  let submitter = null; // the button that sent the form htmx is about to send
  let pending = null; // what the page looked like before the swap under way
  let lastQuiet = ""; // the last announcement of a read (search as you type repeats it)

  function announce(message, quiet) {
    const region = document.getElementById("announcer");
    if (!region || !message) return;
    if (quiet && message === lastQuiet) return;
    lastQuiet = quiet ? message : "";
    // Emptied first and filled a moment later, so the same words are heard again.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = message;
    }, 100);
  }

  function focusOn(element) {
    if (!element) return;
    if (!element.matches(FOCUSABLE) && !element.hasAttribute("tabindex")) {
      element.setAttribute("tabindex", "-1"); // a heading, a comment, a message
    }
    element.focus();
  }

  function describe(element) {
    return {
      id: element.id,
      href: element.getAttribute("href"),
      rel: element.getAttribute("rel"),
      name: element.getAttribute("name"),
      value: element.getAttribute("value"),
      toggle: element.hasAttribute("data-vote-toggle"),
    };
  }

  function cssValue(text) {
    return window.CSS && CSS.escape ? CSS.escape(text) : text;
  }

  /* The element in the new content that stands where the focused one stood. */
  function counterpart(root, was) {
    const inside = (selector) => (root.matches(selector) ? root : root.querySelector(selector));
    const attribute = (name, value) => "[" + name + '="' + cssValue(value || "") + '"]';
    const candidates = [
      was.toggle && "[data-vote-toggle]", // "Vote" comes back as "Remove vote", and back
      was.id && "#" + cssValue(was.id),
      was.rel && "h2 a[href]", // a pager link: the first idea of the new page
      was.href && "a" + attribute("href", was.href),
      was.name && attribute("name", was.name) + attribute("value", was.value),
      "[data-vote-toggle]",
      FOCUSABLE,
    ];
    for (const selector of candidates) {
      const found = selector && inside(selector);
      if (found) return found;
    }
    return root;
  }

  /* A handled queue item left the list: the next item's first action, else the heading. */
  function focusAfterRemoval(state) {
    const items = state.parent ? state.parent.querySelectorAll(":scope > li:not(.empty)") : [];
    const next = items[Math.min(state.index, items.length - 1)];
    if (next) {
      focusOn(next.querySelector("button") || next.querySelector(FOCUSABLE) || next);
      return;
    }
    const empty = state.parent && state.parent.querySelector(":scope > li.empty");
    if (empty) empty.hidden = false;
    focusOn(document.querySelector("main h1"));
  }

  function focusAfterSwap(state, root) {
    const comments = root.id === "comments" && root.querySelectorAll(".event.comment[id]");
    if (comments && state.comments) {
      const fresh = Array.from(comments).find((c) => !state.comments.includes(c.id));
      focusOn(fresh || root.querySelector("textarea"));
      return;
    }
    if (root.id === "idea-page") {
      focusOn(root.querySelector('[hx-target="#dialog-slot"]') || root.querySelector("h1"));
      return;
    }
    focusOn(state.focused ? counterpart(root, state.focused) : root);
  }

  function finish(state) {
    const roots = state.roots.filter((root) => document.body.contains(root));
    const invalid = roots.map((root) => root.querySelector('[aria-invalid="true"]')).find(Boolean);
    if (invalid) {
      invalid.focus(); // its error is read with it (aria-describedby)
      return;
    }
    const root = roots.find((r) => r.hasAttribute("data-announce"));
    const removed = roots.length === 0 && !document.body.contains(state.target);
    if (root) {
      announce(root.getAttribute("data-announce"), state.verb === "get");
    } else if (removed && state.submitter) {
      announce(state.submitter.getAttribute("data-announce"), false);
    }
    // Focus moves only when the swap took away the element that had it.
    if (!state.hadFocus) return;
    if (removed) {
      focusAfterRemoval(state);
    } else if (roots.length) {
      focusAfterSwap(state, roots.find((r) => r.id === state.target.id) || roots[0]);
    }
  }

  document.addEventListener(
    "submit",
    function (event) {
      submitter = event.submitter || null;
    },
    true,
  );

  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (!event.detail.shouldSwap || !target) return;
    const active = document.activeElement;
    const hadFocus = !!active && active !== document.body && target.contains(active);
    const parent = target.parentElement;
    pending = {
      xhr: event.detail.xhr,
      target: target,
      verb: (event.detail.requestConfig && event.detail.requestConfig.verb) || "get",
      hadFocus: hadFocus,
      focused: hadFocus ? describe(active) : null,
      submitter: submitter && target.contains(submitter) ? submitter : null,
      parent: parent,
      index: parent ? Array.from(parent.querySelectorAll(":scope > li:not(.empty)")).indexOf(target) : -1,
      comments:
        target.id === "comments"
          ? Array.from(target.querySelectorAll(".event.comment[id]")).map((c) => c.id)
          : null,
      roots: [],
    };
    submitter = null;
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (pending && event.detail.xhr === pending.xhr) pending.roots.push(event.target);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (!pending || event.detail.xhr !== pending.xhr) return;
    const state = pending;
    pending = null;
    finish(state);
  });

  /* Escape closes the status dialog htmx put into the idea page, focus back on its link. */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const slot = document.getElementById("dialog-slot");
    if (!slot || !slot.contains(document.activeElement)) return;
    slot.replaceChildren();
    focusOn(document.querySelector('[hx-target="#dialog-slot"]'));
  });

})();

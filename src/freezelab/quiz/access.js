// The quiz's keyboard and screen-reader layer, drawn inside each quiz by freezelab.quiz.access.
//
// ipywidgets draws a question's options as native radio inputs inside their labels, but it cannot
// group them or name the group (ipywidgets#2650), and JupyterLab takes letter and arrow keys pressed
// on them for notebook shortcuts ("a" inserts a cell, ArrowDown leaves for the next cell). This
// view works on the quiz it sits in, and only on it:
//  - data-lm-suppress-shortcuts on the quiz: Lumino, which dispatches the shortcuts of JupyterLab
//    and Notebook 7, ignores every key pressed inside it; and focus and clicks inside the quiz do not
//    reach the notebook, which would otherwise move the focus to the cell, outside the quiz;
//  - each question is a group, its options a radiogroup, both named by the question's number and
//    stem; the radios of one question share a name, so Tab enters and leaves the group in one step;
//  - the arrow keys move to the previous or next option and choose it; Enter on an option presses
//    the question's Check button (Space chooses, as on any radio button).

let counter = 0;

function labelIds(box, key) {
  const ids = [];
  box.querySelectorAll(".freezelab-prompt .fl-number, .freezelab-prompt .fl-stem").forEach((node, index) => {
    if (!node.id) node.id = `${key}-label-${index}`;
    ids.push(node.id);
  });
  return ids;
}

function applyTo(root, title) {
  // Lumino stops looking for a shortcut at an element with this attribute, but only after trying
  // the element the key was pressed on: so each focusable element of the quiz carries it too.
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.querySelectorAll("input, button, select, textarea, [tabindex]").forEach((node) => {
    if (!node.hasAttribute("data-lm-suppress-shortcuts")) node.setAttribute("data-lm-suppress-shortcuts", "true");
  });
  root.setAttribute("role", "region");
  root.setAttribute("aria-label", title);
  root.querySelectorAll(".freezelab-question").forEach((box) => {
    if (!box.dataset.flKey) box.dataset.flKey = `freezelab-${Date.now().toString(36)}-${counter++}`;
    const key = box.dataset.flKey;
    const ids = labelIds(box, key);
    if (!ids.length) return;
    box.setAttribute("role", "group");
    box.setAttribute("aria-labelledby", ids[0]);
    const group = box.querySelector(".freezelab-options .widget-radio-box");
    if (!group) return;
    group.setAttribute("role", "radiogroup");
    group.setAttribute("aria-labelledby", ids.join(" "));
    group.querySelectorAll('input[type="radio"]').forEach((input) => {
      if (input.name !== key) input.name = key;
    });
  });
}

function radiosOf(input) {
  const group = input.closest(".widget-radio-box");
  return group ? Array.from(group.querySelectorAll('input[type="radio"]')) : [];
}

function onKeydown(event) {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "radio") return;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
  if (step !== undefined) {
    const radios = radiosOf(input);
    const index = radios.indexOf(input);
    if (index < 0) return;
    const next = radios[(index + step + radios.length) % radios.length];
    event.preventDefault();
    next.focus();
    if (!next.checked) next.click();
    return;
  }
  if (event.key === "Enter") {
    const check = input.closest(".freezelab-question")?.querySelector("button.freezelab-check");
    if (check) {
      event.preventDefault();
      check.click();
    }
  }
}

function render({ model, el }) {
  el.classList.add("freezelab-access");
  let root = null;
  let observer = null;
  let scheduled = false;
  let tries = 0;
  const title = () => model.get("title") || "Quiz";
  const refresh = () => {
    scheduled = false;
    if (root) applyTo(root, title());
  };
  const attach = () => {
    root = el.closest(".freezelab-quiz");
    if (!root) {
      // The view is drawn before it is placed in the page: look again shortly.
      if (tries++ < 200) setTimeout(attach, 50);
      return;
    }
    applyTo(root, title());
    if (!root.dataset.flKeys) {
      root.dataset.flKeys = "on";
      root.addEventListener("keydown", (event) => {
        onKeydown(event);
        // JupyterLab and Notebook 7 listen for shortcuts on the document, after the event has
        // bubbled up: a key pressed inside the quiz goes no further than the quiz.
        event.stopPropagation();
      });
      // The notebook makes the quiz's cell active on focusin and mousedown, and then moves the
      // focus from the option to the cell itself, where keys are shortcuts again: the quiz's own
      // focus and clicks stay inside the quiz.
      root.addEventListener("focusin", (event) => event.stopPropagation());
      root.addEventListener("mousedown", (event) => event.stopPropagation());
    }
    // ipywidgets draws the questions one by one and may redraw options: keep them labelled.
    observer = new MutationObserver(() => {
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(refresh);
      }
    });
    observer.observe(root, { childList: true, subtree: true });
  };
  attach();
  return () => {
    if (observer) observer.disconnect();
  };
}

export default { render };

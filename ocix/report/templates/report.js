"use strict";
// Optional: the page reads the same without it.  Adds "open all / close all" to each tree.
for (const tree of document.querySelectorAll("[data-tree]")) {
  const bar = document.createElement("p");
  bar.className = "treebar";
  for (const [label, open] of [["open all", true], ["close all", false]]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", () => {
      for (const d of tree.querySelectorAll("details")) d.open = open;
    });
    bar.append(b);
  }
  tree.before(bar);
}

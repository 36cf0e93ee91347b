// Progressive enhancement only: the site works without this file.
// Shows how many characters are left in a textarea that names a counter element.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("textarea[data-counter]").forEach((area) => {
    const counter = document.getElementById(area.dataset.counter);
    const limit = Number(area.getAttribute("maxlength")) || 280;
    if (!counter) return;
    const update = () => {
      const left = limit - area.value.length;
      counter.textContent = `${left} characters left`;
      counter.classList.toggle("over", left < 0);
    };
    area.addEventListener("input", update);
    update();
  });
});

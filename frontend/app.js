// Calls the sentiment API and shows its answer; no framework, no build step.
import { API_BASE_URL } from "./config.js";

const endpoint = new URL("/predict", API_BASE_URL || window.location.origin).toString();
const form = document.getElementById("review-form");
const review = document.getElementById("review");
const button = document.getElementById("predict");
const busy = document.getElementById("busy");
const result = document.getElementById("result");
const errorBox = document.getElementById("error");

function show(element, visible) {
  element.hidden = !visible;
}

// BentoML answers 400 with {"error": "...", "detail": [{"msg": "Value error, text is empty..."}]};
// our own guards answer {"error": "..."}. Either way, say the message in plain words.
function messageOf(status, body) {
  const details = Array.isArray(body?.detail) ? body.detail.map((d) => String(d.msg || "").replace(/^Value error, /, "")) : [];
  const text = details.filter(Boolean).join("; ") || body?.error || `the server answered ${status}`;
  return status >= 500 ? `The service failed (${status}): ${text}` : `The service could not use that review: ${text}`;
}

function showError(message) {
  show(result, false);
  errorBox.textContent = message;
  show(errorBox, true);
}

function showPrediction(answer, elapsedMs) {
  const percent = Math.round(answer.score * 100);
  const label = document.getElementById("label");
  label.textContent = answer.label;
  label.className = `label ${answer.label}`;
  document.getElementById("confidence").textContent = `${percent} % confident`;
  const fill = document.getElementById("bar-fill");
  fill.style.width = `${percent}%`;
  fill.className = `bar-fill ${answer.label}`;
  document.getElementById("model").textContent = answer.model;
  document.getElementById("elapsed").textContent = `${Math.round(elapsedMs)} ms`;
  show(errorBox, false);
  show(result, true);
}

async function predict() {
  button.disabled = true;
  show(busy, true);
  const started = performance.now();
  try {
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: review.value }),
      });
    } catch {
      // A network failure and a CORS refusal look the same to a page: a rejected fetch.
      showError(
        `Could not reach the sentiment service at ${endpoint}. It may be down, or it does not accept ` +
          `requests from this page's address (${window.location.origin}); ask its operator to allow it (CORS).`,
      );
      return;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      showError(messageOf(response.status, body));
      return;
    }
    showPrediction(body, performance.now() - started);
  } finally {
    button.disabled = false;
    show(busy, false);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  predict();
});

review.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    predict();
  }
});

for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    review.value = example.textContent;
    review.focus();
    predict();
  });
}

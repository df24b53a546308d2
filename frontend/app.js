// Calls the sentiment API and shows its answer; no framework, no build step.
import { API_BASE_URL } from "./config.js";

const endpoint = new URL("/predict", API_BASE_URL || window.location.origin).toString();
// The explanation asks for this many n-grams to colour the review with, and lists the first REASONS of them.
const HIGHLIGHTED = 40;
const REASONS = 8;
// How the model reads a review (pipeline/model/text.py TOKEN_PATTERN, pipeline/model/ngrams/features.py
// NEGATION_CUES and CLAUSE_MARKS; tests/unit/test_frontend.py keeps these equal): runs of word characters or of
// other non-space ones; after a cue, words are negated ("¬good") up to the next clause punctuation.
const TOKENS = /[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]+/gu;
const NEGATION_CUES = ["never", "no", "not", "t"];
const CLAUSE_MARKS = ".,:;!?";
const NEGATED = "¬";
const TAIL = "» ";
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

function showPrediction(text, answer, elapsedMs) {
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
  showExplanation(text, answer.explanation);
  show(errorBox, false);
  show(result, true);
}

// The review's tokens as the model sees them: where each stands, its lower-cased text, and whether a negation
// scope holds it (pipeline/model/ngrams/features.py negation_marked).
function tokensOf(text) {
  const tokens = [];
  let negated = false;
  for (const match of text.matchAll(TOKENS)) {
    const word = match[0].toLowerCase();
    let scoped = false;
    if (NEGATION_CUES.includes(word)) {
      negated = true;
    } else if ([...word].some((c) => CLAUSE_MARKS.includes(c))) {
      negated = false;
    } else {
      scoped = negated;
    }
    tokens.push({ start: match.index, end: match.index + match[0].length, word, scoped });
  }
  return tokens;
}

// Where an n-gram of the explanation stands in the review: every place its words follow each other (a "¬" word
// only inside a scope, a plain one only outside), or, for the closing sentences' copy ("» ..."), the last place.
function placesOf(ngram, tokens) {
  const tail = ngram.startsWith(TAIL);
  const words = (tail ? ngram.slice(TAIL.length) : ngram).split(" ").map((word) => {
    const negated = word.length > 1 && word.startsWith(NEGATED);
    return { word: negated ? word.slice(1) : word, negated };
  });
  const places = [];
  for (let i = 0; i + words.length <= tokens.length; i++) {
    if (words.every((w, k) => tokens[i + k].word === w.word && tokens[i + k].scoped === w.negated)) places.push(i);
  }
  return { places: tail ? places.slice(-1) : places, length: words.length };
}

function signed(value) {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(2)}`;
}

// Colours each word by the sum of the listed n-grams it is part of, and lists the strongest of them.
function showExplanation(text, explanation) {
  const why = document.getElementById("why");
  if (!explanation) {
    show(why, false);
    return;
  }
  const tokens = tokensOf(text);
  const weights = new Array(tokens.length).fill(0);
  for (const { ngram, contribution } of explanation.contributions) {
    const { places, length } = placesOf(ngram, tokens);
    for (const start of places) {
      for (let k = start; k < start + length; k++) weights[k] += contribution;
    }
  }
  const strongest = Math.max(...weights.map(Math.abs), 1e-9);
  const highlighted = document.getElementById("highlighted");
  const parts = [];
  let position = 0;
  tokens.forEach((token, i) => {
    if (!weights[i]) return;
    parts.push(document.createTextNode(text.slice(position, token.start)));
    const mark = document.createElement("mark");
    mark.className = weights[i] > 0 ? "positive" : "negative";
    mark.style.setProperty("--strength", (Math.abs(weights[i]) / strongest).toFixed(3));
    mark.title = `${signed(weights[i])} towards ${weights[i] > 0 ? "positive" : "negative"}`;
    mark.textContent = text.slice(token.start, token.end);
    parts.push(mark);
    position = token.end;
  });
  parts.push(document.createTextNode(text.slice(position)));
  highlighted.replaceChildren(...parts);

  const reasons = explanation.contributions.slice(0, REASONS).map(({ ngram, contribution }) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "ngram";
    name.textContent = `“${ngram}”`;
    const value = document.createElement("span");
    value.className = `weight ${contribution > 0 ? "positive" : "negative"}`;
    value.textContent = `${signed(contribution)} towards ${contribution > 0 ? "positive" : "negative"}`;
    item.append(name, " ", value);
    return item;
  });
  document.getElementById("reasons").replaceChildren(...reasons);
  const shownOnlyInColour = explanation.contributions.slice(REASONS).reduce((sum, c) => sum + c.contribution, 0);
  document.getElementById("rest").textContent =
    `Every other n-gram together: ${signed(explanation.other + shownOnlyInColour)}; ` +
    `the model's starting point: ${signed(explanation.intercept)} (log-odds of positive).`;
  show(why, true);
}

async function predict() {
  button.disabled = true;
  show(busy, true);
  const started = performance.now();
  const text = review.value;
  try {
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text, explain: true, top: HIGHLIGHTED }),
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
    showPrediction(text, body, performance.now() - started);
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

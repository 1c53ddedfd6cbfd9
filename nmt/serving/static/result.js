// The translation: the chosen hypothesis's text, the server's warnings, whether it was steered,
// and the n-best list with scores (choosing one shows its attention).

/**
 * Draw into the elements of `parts` ({translation, warnings, steerBanner, steerText, nbest}):
 * `state` = {hypotheses, chosen, warnings, prefix, language}; `callbacks.onChooseHypothesis(i)`.
 */
export function drawResult(parts, state, callbacks) {
  parts.translation.textContent = state.hypotheses[state.chosen].text;
  parts.translation.lang = state.language;
  drawWarnings(parts.warnings, state.warnings);
  drawSteerBanner(parts, state.prefix);
  parts.nbest.replaceChildren(...state.hypotheses.map((hypothesis, i) => {
    const item = document.createElement("li");
    item.append(hypothesisButton(hypothesis, i, i === state.chosen, callbacks));
    return item;
  }));
}

function drawWarnings(list, warnings) {
  list.hidden = warnings.length === 0;
  list.replaceChildren(...warnings.map((warning) => {
    const item = document.createElement("li");
    item.textContent = warning;
    return item;
  }));
}

function drawSteerBanner(parts, prefix) {
  parts.steerBanner.hidden = !prefix;
  parts.steerText.textContent = prefix ? `Steered: this translation is forced to begin with “${prefix}”.` : "";
}

function hypothesisButton(hypothesis, i, chosen, callbacks) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.testid = "hypothesis";
  button.dataset.index = String(i);
  button.dataset.score = String(hypothesis.score);
  button.setAttribute("aria-pressed", String(chosen));
  const text = document.createElement("span");
  text.className = "hypothesis-text";
  text.textContent = hypothesis.text || "(empty)";
  text.title = hypothesis.text;
  const score = document.createElement("span");
  score.className = "hypothesis-score";
  score.textContent = hypothesis.score.toFixed(3);
  score.title = "score: log-probability, divided by the length penalty";
  button.append(text, score);
  button.addEventListener("click", () => callbacks.onChooseHypothesis(i));
  return button;
}

// What a newly raised alert does besides appearing on the map: a counter in the header (click it
// to open the alert queue on the newest one), the count in the tab title, and a short beep. The beep is synthesized
// with WebAudio (no sound files) and only once the operator has interacted with the page, which is
// also when browsers allow audio.

const SOUND_KEY = "rtcc.alertSound";
const MAX_REMEMBERED = 500;

function loadSoundPref() {
  try {
    return window.localStorage.getItem(SOUND_KEY) !== "off";
  } catch {
    return true;
  }
}

function saveSoundPref(on) {
  try {
    window.localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  } catch {
    // Private windows may refuse storage; the toggle still works for this page.
  }
}

function createBeeper() {
  let audio = null;

  function unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      if (!audio) audio = new Context();
      if (audio.state === "suspended") audio.resume().catch(() => {});
    } catch {
      audio = null;
    }
  }

  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, unlock, { capture: true, passive: true });
  }

  return function beep() {
    if (!audio || audio.state !== "running") return;
    const start = audio.currentTime + 0.01;
    // Two short tones, high then higher: noticeable, not alarming.
    [[880, 0], [1175, 0.16]].forEach(([frequency, offset]) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.18, start + offset + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.13);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.14);
    });
  };
}

// `toggle(ids)` opens or closes the alert queue (alert-queue.js); ids are the unseen alerts, newest
// first, for the queue to show the newest. Between new alerts the counter shows how many are pending.
export function createAlertCue({ counter, soundToggle, toggle, sound = true }) {
  const unseen = new Map(); // alert id -> title, newest last
  const known = new Set(); // ids already announced (a replay must not announce them twice)
  const baseTitle = document.title;
  const beep = createBeeper();
  let soundOn = loadSoundPref();
  let pending = 0;

  function render() {
    const count = unseen.size;
    counter.hidden = count === 0 && pending === 0;
    counter.classList.toggle("quiet", count === 0);
    root().dataset.newAlerts = String(count);
    document.title = count ? `(${count}) ${baseTitle}` : baseTitle;
    if (!count) {
      counter.replaceChildren(
        Object.assign(document.createElement("span"), { className: "alert-counter-count", textContent: String(pending) }),
        "open",
      );
      counter.title = "Open alerts: click to show the alert queue";
      return;
    }
    const latest = [...unseen.values()].pop();
    counter.replaceChildren(
      Object.assign(document.createElement("span"), { className: "alert-counter-count", textContent: String(count) }),
      count === 1 ? "new alert" : "new alerts",
    );
    counter.title = `Newest: ${latest}. Click to show it.`;
    counter.classList.remove("bump");
    void counter.offsetWidth; // restart the animation
    counter.classList.add("bump");
  }

  function root() {
    return document.documentElement;
  }

  function renderSound() {
    soundToggle.setAttribute("aria-pressed", String(soundOn));
    soundToggle.textContent = soundOn ? "Sound on" : "Sound off";
    soundToggle.title = soundOn ? "A new alert beeps (after you have clicked the page once)" : "New alerts are silent";
  }

  counter.addEventListener("click", () => {
    // The queue opens on the newest new alert; the rest count as seen with it.
    const ids = [...unseen.keys()].reverse();
    unseen.clear();
    render();
    toggle(ids);
  });

  soundToggle.hidden = !sound;
  soundToggle.addEventListener("click", () => {
    soundOn = !soundOn;
    saveSoundPref(soundOn);
    renderSound();
  });
  renderSound();

  return {
    raised(feature) {
      const id = Number(feature.id);
      if (known.has(id)) return;
      known.add(id);
      if (known.size > MAX_REMEMBERED) known.delete(known.values().next().value);
      unseen.set(id, feature.properties?.title || "Alert");
      render();
      if (soundOn) beep();
    },
    cleared(id) {
      if (unseen.delete(Number(id))) render();
    },
    // How many alerts are open (the queue's count).
    setPending(count) {
      if (count === pending) return;
      pending = count;
      render();
    },
  };
}

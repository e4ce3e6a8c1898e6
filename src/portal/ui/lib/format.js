// Formatting: times, durations, counts, JSON.

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "3 min ago", with the exact time available as a title. */
export function ago(iso) {
  if (!iso) return "";
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  const a = Math.abs(s);
  if (a < 45) return rtf.format(Math.round(s), "second");
  if (a < 2700) return rtf.format(Math.round(s / 60), "minute");
  if (a < 64800) return rtf.format(Math.round(s / 3600), "hour");
  return rtf.format(Math.round(s / 86400), "day");
}

/** The exact local time, e.g. for a title attribute. */
export function exact(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function duration(ms) {
  if (ms === undefined || ms === null) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function count(n) {
  return new Intl.NumberFormat().format(n ?? 0);
}

export function percent(part, whole) {
  if (!whole) return "–";
  return `${((100 * part) / whole).toFixed(1)} %`;
}

/** JSON for reading: pretty when it parses, as is otherwise. */
export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** ISO time `hours` ago. */
export function hoursAgo(hours) {
  return new Date(Date.now() - hours * 3600 * 1000).toISOString();
}

// The wall is designed at 1920×1080; on bigger screens pixel sizes (icons, lines, labels) grow with it,
// exactly like the rem-based chrome, so a 4K wall shows the same picture, only sharper.
export function uiScale(): number {
  return Math.min(4, Math.max(1, window.innerWidth / 1920));
}

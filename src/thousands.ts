/**
 * `120000` → `120,000`. Not `toLocaleString('en-US')`: its first call loads ICU's number data,
 * ~20 ms of CPU that `migrate` paid at its first progress line, just as the first uploads were due.
 */
export function thousands(n: number): string {
  const [int = '', frac] = String(n).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

// apache-md5 ships a declaration written as an ES default export, but the package is CommonJS
// (`module.exports = fn`), so under NodeNext its own typing describes `{ default: fn }` and the
// default import would not be callable. This ambient declaration takes precedence and matches the
// runtime shape.
declare module 'apache-md5' {
  /** Returns `$apr1$<salt>$<digest>`; with a stored hash as `salt`, reuses that hash's salt. */
  function aprMd5(password: string, salt?: string): string;
  export = aprMd5;
}

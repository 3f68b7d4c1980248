// tap's coverage map (`coverage-map` in .taprc). Plain JavaScript: tap's runner loads it itself,
// without the tsx loader the test files get.
//
// The end-to-end suites (scripts/ci/*.sh) run a few files each and cover a slice of the code:
// they collect no coverage, so the floor in .taprc judges the whole unit suite only. A unit
// test covers whatever it loads (`[]` is tap's default set).
export default (testFile) => (/(^|\/)e2e\//.test(testFile) ? null : []);

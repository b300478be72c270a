// The pgferry the bench runs: the compiled dist/, as an installed package runs it. bin/pgferry.js
// in a clone runs the TypeScript sources through tsx, which costs ~1 s of start-up and ~30 MB
// of memory that no user pays.
const { main } = await import("../dist/cli/main.js");
process.exitCode = await main(process.argv);

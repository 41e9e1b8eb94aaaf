// Loaded before dynalite (node --require). dynalite 4 throws from a request's 'error' handler when
// a client goes away in the middle of sending a body (ECONNRESET "aborted"), and the whole server
// exits. Real DynamoDB does not care when one client disconnects, and ddbpipe's interrupt and
// failure paths do exactly that (a Spark job cancelled mid-write): keep the stand-in serving.
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error(`dynalite: a client went away mid-request (${err.code || err.message})`);
    return;
  }
  throw err;
});

/** The console's test server moved to @loalang/test-kit (server.ts); re-exported for the console's tests. */
export { addUser, buildTestServer, login, multipartBody, PASSWORD, type TestServer } from '@loalang/test-kit';

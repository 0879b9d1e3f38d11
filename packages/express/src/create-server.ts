import { IncomingMessage, ServerResponse, createServer as createHttpServer, type Server, type ServerOptions } from 'node:http';
import type { Express } from 'express';

/** Server options other than the two classes `createServer` chooses itself. */
export type AppServerOptions = Omit<ServerOptions, 'IncomingMessage' | 'ServerResponse'>;

/**
 * `http.createServer(app)` whose requests and responses are born with the Express app's own
 * prototypes (`app.request`, `app.response`), through Node's documented `IncomingMessage` and
 * `ServerResponse` options. Use it where you would call `app.listen()`: the app runs unchanged.
 *
 * Why: Express 5 moves every request and response to its app's prototype (`Object.setPrototypeOf`),
 * and V8 then gives each of them hidden classes of their own, so every property Express, its
 * middleware and filekeep add afterwards is slow and allocates (expressjs/express#5998). When
 * the object already has that prototype, Express's `setPrototypeOf` changes nothing. Measured
 * here: the in-memory Express ceiling served 1.9-2.3× the requests per second (three A/B runs,
 * ahead in every round), 23.3 against 32.3 KiB allocated per request.
 *
 * A mounted sub-app still moves requests to its own prototypes, as Express always does.
 *
 * @example
 * createServer(app).listen(3000, '127.0.0.1');
 */
export function createServer(app: Express, options: AppServerOptions = {}): Server {
  const { request, response } = app as Partial<Pick<Express, 'request' | 'response'>>;
  // Anything else (a bare request listener, a future Node whose classes cannot be called on an
  // existing object) gets Node's own server: slower with Express, never broken.
  if (!isPrototypeFor(request, IncomingMessage) || !isPrototypeFor(response, ServerResponse)) return createHttpServer(options, app);
  return createHttpServer(
    {
      ...options,
      IncomingMessage: withPrototype(IncomingMessage, request),
      ServerResponse: withPrototype(ServerResponse, response),
    },
    app,
  );
}

/**
 * A constructor that builds what `Base` builds, with `prototype` (which inherits from
 * `Base.prototype`, as Express's do) as the new object's prototype. `Base` is called on the new
 * object. `Reflect.construct(Base, args, Derived)` would work for classes too, but V8 then gave
 * every object a map of its own (40-70 µs per construction measured) and the ceiling ran at 0.56×.
 * V8 keeps the properties of objects built this way in a dictionary; getting fast properties
 * takes engine-specific tricks, which made the ceiling 1.2× faster again but the example app not
 * at all (A/B 1.00), so they are not used.
 */
function withPrototype<C extends Function>(Base: C, prototype: object): C {
  function Derived(this: object, ...args: unknown[]): void {
    (Base as unknown as (...a: unknown[]) => void).apply(this, args);
  }
  Derived.prototype = prototype;
  return Derived as unknown as C;
}

/**
 * Whether objects built by `Base` can have `prototype`: it inherits from `Base.prototype` (so
 * instances keep Node's methods), and `Base` is a plain function (Node 20–24), which can be called
 * on an existing object, where a class cannot.
 */
function isPrototypeFor(prototype: unknown, Base: Function): prototype is object {
  return (
    typeof prototype === 'object' &&
    prototype !== null &&
    Object.prototype.isPrototypeOf.call(Base.prototype, prototype) &&
    !Function.prototype.toString.call(Base).startsWith('class')
  );
}

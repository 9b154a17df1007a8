// Package runtime is a local Lambda host: it runs unmodified Lambda function
// executables (anything that speaks the Lambda Runtime API, such as a Go
// program calling aws-lambda-go's lambda.Start) and serves the Lambda Invoke
// REST API, so the AWS SDKs and CLI invoke local functions as they invoke
// Lambda, with the same signatures, permissions and error shapes.
//
// In: a Config listing the functions (an executable, or a Go package
// directory built with `go build` into StateDir/bin by Start and rebuilt
// when its sources change; timeout, memory size, concurrency, queue,
// environment, execution role), the region and account of their ARNs, the
// local STS that checks Invoke API signatures (devkit/sts), and a source of
// execution-role credentials. New validates all of it at once and starts
// nothing.
//
// Out: a Host with
//
//	Handler  POST /2015-03-31/functions/{name}/invocations: RequestResponse
//	         (200, with X-Amz-Function-Error when the function failed),
//	         Event (202, a bounded queue run in the background), DryRun (204);
//	         X-Amz-Log-Type: Tail (X-Amz-Log-Result, the last 4 KB of the
//	         invocation's log), X-Amz-Client-Context, X-Amz-Executed-Version;
//	         SigV4 required (service "lambda", checked by Config.STS), then the
//	         session's role must allow lambda:InvokeFunction on the function
//	         (sts.Role.Invoke) and so must its session policy, if any; refusals
//	         are Lambda's: {"Type":"User","message":…} with X-Amzn-ErrorType
//	         (AccessDeniedException, UnrecognizedClientException,
//	         InvalidSignatureException, ExpiredTokenException,
//	         ResourceNotFoundException, TooManyRequestsException,
//	         RequestTooLargeException, InvalidRequestContentException,
//	         InvalidParameterValueException, ServiceException).
//	         /lambda-url/{name}/{path…}: the function URL of each function
//	         whose Function.URL is set, auth type NONE, so no signature is
//	         asked for and anyone who can reach Handler may call it (the
//	         function checks its callers itself). Each request becomes a
//	         function URL event (version 2.0; rawPath "/{path…}" exactly as
//	         received, a path with dot segments, "//", encoded '/', '\', '.'
//	         or '%', NUL, control characters or ';' answered 400 instead;
//	         rawQueryString, queryStringParameters and headers with repeated
//	         values comma-joined, header names lower-cased, Cookie headers
//	         split into cookies, the Authorization header passed on,
//	         requestContext with apiId and domainPrefix a url-id derived
//	         from the function's ARN (FunctionURLID) and domainName
//	         <url-id>.lambda-url.<region>.on.aws, no authorizer; a body that
//	         is not UTF-8 text base64 with isBase64Encoded), invoked as a
//	         RequestResponse invocation (the same queue, timeout, crash
//	         handling and logs). The answer is mapped as Lambda maps
//	         function URL responses (gatehouse/invoke's WriteResponse):
//	         statusCode, headers, cookies (one Set-Cookie each), body,
//	         isBase64Encoded, and any other JSON value as a 200
//	         application/json body; a function error or an invalid response
//	         is 502, a timeout 504, throttling 429, a body over 6 MiB
//	         (MaxSyncPayload) 413, a function without a URL 404, each with
//	         {"message":…}. The invocation's request id is requestId and
//	         x-amzn-RequestId.
//	Invoke   the same invocation in process, without authentication.
//
// Each instance is a process with its own Runtime API listener on
// 127.0.0.1 (AWS_LAMBDA_RUNTIME_API): GET /2018-06-01/runtime/invocation/next
// with Lambda's headers (request id, deadline, invoked function ARN, trace
// id, client context), POST …/{id}/response (trailer-reported errors
// included), POST …/{id}/error and POST /2018-06-01/runtime/init/error, with
// the Runtime API's error bodies for requests out of turn. Its environment
// is what Lambda sets (function name, version $LATEST, memory size, region,
// log group and stream, _HANDLER, LAMBDA_TASK_ROOT, TZ=:UTC, the execution
// role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) plus
// Function.Env. Of the host's environment only PATH is passed on, and
// AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE (both the null device) and
// AWS_EC2_METADATA_DISABLED=true keep the AWS SDKs in a function from
// finding the developer's own credentials; Env may override those three.
//
// Scheduling is Lambda's: an idle instance if one exists, else a new one up
// to Concurrency, else a FIFO queue of QueueSize waiting up to QueueTimeout,
// else TooManyRequestsException. An invocation that outlives Timeout kills
// its instance (the whole process group) and answers Sandbox.Timedout; an
// instance that exits mid-invocation answers Runtime.ExitError; one that
// fails before its first /next answers its /init/error body or
// Runtime.ExitError to the caller that started it. Failed instances are
// replaced on the next demand. Function output becomes one log record per
// line (8 KB at most) tagged with function, request id and instance;
// payloads and credentials are never logged, only sizes.
//
// Left to others: aliases and versions other than $LATEST, the other Lambda
// APIs (function management, response streaming to callers), function URLs
// of auth type AWS_IAM, their CORS settings and their response streaming,
// retries of failed Event invocations (only throttled ones are retried),
// memory limits (MemoryMB is reported, not enforced), condition keys in
// session policies (a statement with a Condition never allows, and always
// denies), TLS (wrap Handler in an https server), and isolation: functions
// run as the host's user, unsandboxed. It is a development tool: keep it on
// loopback.
package runtime

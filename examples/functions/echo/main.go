// Command echo is an example Lambda function that uses the request body:
// it reads {"message": "..."} from an API Gateway HTTP API event (payload
// format 2.0; a base64 body when isBase64Encoded) and answers
// {"message": <upper-cased>, "length": <characters in the message>}.
//
// README: a body that is not such a JSON object gets a 400 answer with
// {"error": ...}. It logs the length of each message, never the message.
// Run it under `gatehouse dev`, or build it for Lambda's provided.al2023
// runtime (GOOS=linux, the executable named bootstrap).
package main

import "github.com/gatehouse-dev/gatehouse/examples/functions/echo/echo"

func main() { echo.Main() }

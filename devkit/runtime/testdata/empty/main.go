// Command empty is the smallest Lambda function: it does nothing. The
// benchmarks measure the host's overhead with it.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() {
	lambda.Start(func() {})
}

package creds_test

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/creds"
)

func ExampleInvokePolicy() {
	fmt.Println(creds.InvokePolicy("arn:aws:lambda:eu-west-1:123456789012:function:reports-daily"))
	// Output:
	// {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:reports-daily"}]}
}

// The trust policy of a broker-mode role: only gatehouse's issuer, only
// tokens minted for this logical role, only the tag keys it emits.
func ExampleTrustPolicy() {
	doc, err := creds.TrustPolicy(
		creds.Role{Name: "reader", ARN: "arn:aws:iam::123456789012:role/gatehouse-reader"},
		creds.TrustParams{AccountID: "123456789012", IssuerURL: "https://gatehouse.example.com/oidc"},
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(doc))
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Effect": "Allow",
	//       "Principal": {
	//         "Federated": "arn:aws:iam::123456789012:oidc-provider/gatehouse.example.com/oidc"
	//       },
	//       "Action": [
	//         "sts:AssumeRoleWithWebIdentity",
	//         "sts:SetSourceIdentity",
	//         "sts:TagSession"
	//       ],
	//       "Condition": {
	//         "ForAllValues:StringEquals": {
	//           "aws:TagKeys": [
	//             "tenant",
	//             "kind",
	//             "agent"
	//           ]
	//         },
	//         "StringEquals": {
	//           "gatehouse.example.com/oidc:aud": "sts.amazonaws.com"
	//         },
	//         "StringLike": {
	//           "gatehouse.example.com/oidc:sub": "role:reader:*"
	//         }
	//       }
	//     }
	//   ]
	// }
}

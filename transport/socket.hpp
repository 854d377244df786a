// The socket types of the transport: TCP sockets bound to one io_context's
// concrete executor (no type-erased executor on the data path), and TLS over
// one. ssl::stream is only declared here, so OpenSSL's headers stay in the
// units that use it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace boost::asio::ssl {
template <class Stream>
class stream;
}

namespace signaling::transport {

using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using acceptor_type = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using tls_stream = boost::asio::ssl::stream<socket_type>;

} // namespace signaling::transport
